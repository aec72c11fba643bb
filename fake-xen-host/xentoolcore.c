/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The simulated host's libxentoolcore.so.1: nothing to restrict.
 */

#include <xentoolcore.h>

#include "fxh-core.h"

int xentoolcore_restrict_all(domid_t domid)
{
    fxh_log("xentoolcore_restrict_all %u", domid);
    return 0;
}
