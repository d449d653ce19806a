/* clgrad/api.h — CLG_API marks what libclgrad.so exports: the functions the
 * public headers declare. The library is built with hidden visibility, so
 * nothing else is (tests/check_exports.py checks both ways). */
#ifndef CLGRAD_API_H
#define CLGRAD_API_H

#if defined(__GNUC__) || defined(__clang__)
#define CLG_API __attribute__((visibility("default")))
#else
#define CLG_API
#endif

#endif
