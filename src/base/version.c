#include "clgrad/version.h"

const char *clg_version(void)
{
    return CLG_VERSION;
}
