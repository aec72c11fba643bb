    xen_map_cache_init_limit(NULL, state, xen_mapcache_max_size,
                             &error_fatal);
