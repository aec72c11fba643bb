    xen_hvm_map_cache_init(NULL, state);
