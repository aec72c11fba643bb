
/* -machine mapcache-max-size, in bytes; 0 if not given */
size_t xen_mapcache_max_size;
