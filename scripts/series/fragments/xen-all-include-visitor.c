#include "qapi/visitor.h"
