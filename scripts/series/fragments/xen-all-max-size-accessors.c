static void xen_get_mapcache_max_size(Object *obj, Visitor *v,
                                      const char *name, void *opaque,
                                      Error **errp)
{
    uint64_t value = xen_mapcache_max_size;

    visit_type_size(v, name, &value, errp);
}

static void xen_set_mapcache_max_size(Object *obj, Visitor *v,
                                      const char *name, void *opaque,
                                      Error **errp)
{
    uint64_t value;

    if (!visit_type_size(v, name, &value, errp)) {
        return;
    }
    xen_map_cache_check_max_size(value, &xen_mapcache_max_size, errp);
}

