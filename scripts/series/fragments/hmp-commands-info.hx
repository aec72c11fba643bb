    {
        .name       = "xen-mapcache",
        .args_type  = "",
        .params     = "",
        .help       = "show the Xen mapcache's caches and counters",
        .cmd_info_hrt = qmp_x_query_xen_mapcache,
    },

SRST
  ``info xen-mapcache``
    Show the Xen mapcache: for each of its caches, its limit, what it
    holds and its counters.
ERST

