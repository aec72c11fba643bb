
    value = qdict_get_try_str(qdict, "mapcache-max-size");
    if (value) {
        object_register_sugar_prop(ACCEL_CLASS_NAME("xen"),
                                   "mapcache-max-size", value, false);
        qdict_del(qdict, "mapcache-max-size");
    }
