    xen_hvm_map_cache_init(xen_phys_offset_to_gaddr, state);
