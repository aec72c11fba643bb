#include "sysemu/xen-mapcache.h"
