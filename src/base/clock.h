/* Wall-clock time for rates and timeouts (clock.c). */
#ifndef CLGRAD_BASE_CLOCK_H
#define CLGRAD_BASE_CLOCK_H

/* Seconds on a monotonic clock: differences are elapsed time. */
double clg_now_seconds(void);

#endif
