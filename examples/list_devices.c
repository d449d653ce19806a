/* Lists the OpenCL devices clgrad sees, using only the installed library.
 * cc list_devices.c $(pkg-config --cflags --libs clgrad) -o list_devices */
#include <clgrad.h>
#include <stdio.h>

int main(void)
{
    int n;
    if (clg_device_count(&n) != CLG_OK) {
        fprintf(stderr, "%s\n", clg_last_error());
        return 2;
    }
    for (int i = 0; i < n; i++) {
        clg_device_info d;
        clg_device_info_get(i, &d);
        printf("%d: %s (%s)\n", i, d.name, clg_device_type_str(d.type));
    }
    return 0;
}
