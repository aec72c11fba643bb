    xen_map_cache_init_limit(xen_phys_offset_to_gaddr, state,
                             xen_mapcache_max_size, &error_fatal);
