#include "qapi/qapi-commands-machine.h"
#include "qapi/type-helpers.h"
