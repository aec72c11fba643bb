/* placeholder: the rewrite lands here */
#include "qemu/osdep.h"
#include "sysemu/xen-mapcache.h"
#include "trace.h"
