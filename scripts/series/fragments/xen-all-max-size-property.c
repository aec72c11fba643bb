
    object_class_property_add(oc, "mapcache-max-size", "size",
        xen_get_mapcache_max_size, xen_set_mapcache_max_size, NULL, NULL);
    object_class_property_set_description(oc, "mapcache-max-size",
        "Most address space the Xen mapcache keeps mapped "
        "(default and upper bound: what RLIMIT_AS leaves it)");
