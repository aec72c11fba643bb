/* The mapcache's limit: -accel xen,mapcache-max-size, else RLIMIT_AS. */
static void xen_hvm_map_cache_init(phys_offset_to_gaddr_t f, void *opaque)
{
    if (xen_mapcache_max_size) {
        xen_map_cache_init_limit(f, opaque, xen_mapcache_max_size,
                                 &error_fatal);
    } else {
        xen_map_cache_init(f, opaque);
    }
}

