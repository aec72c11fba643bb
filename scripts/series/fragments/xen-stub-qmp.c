
HumanReadableText *qmp_x_query_xen_mapcache(Error **errp)
{
    g_autoptr(GString) buf = g_string_new("The Xen mapcache is not "
                                          "available: this QEMU is built "
                                          "without Xen.\n");

    return human_readable_text_from_str(buf);
}
