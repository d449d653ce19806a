/*
 * What clgrad's tools share: flags parsed from one table, which also
 * writes --help, so that a flag cannot be parsed and left out of the help
 * or the other way round.
 *
 *     static cli_flag flags[] = {
 *         CLI_GROUP("Training"),
 *         {"--epochs", CLI_INT, &o.epochs, 1, 100000, .value = "N",
 *          .help = "epochs to train"},
 *         {"--quiet", CLI_SWITCH, &o.quiet, .help = "no progress output"},
 *         CLI_END,
 *     };
 *     int rc = cli_parse("clgrad-train", usage, flags, argc, argv, &positional, 1);
 *     if (rc >= 0)
 *         return rc;                        // --help, --version or a bad flag
 *
 * A value comes as the next argument or after '=' (--epochs=3). The help
 * shows each flag's current value as its default when it is not zero.
 */
#ifndef CLGRAD_TOOLS_CLI_H
#define CLGRAD_TOOLS_CLI_H

#include <clgrad.h>
#include <stdbool.h>
#include <stdio.h>

#define CLI_USAGE_ERROR 2

typedef enum cli_kind {
    CLI_GROUP,  /* a heading in --help, no flag */
    CLI_SWITCH, /* no value: *(bool *)dst = true */
    CLI_STRING, /* *(const char **)dst = the value */
    CLI_INT,    /* *(int *)dst, a whole number in [lo, hi] */
    CLI_LONG,   /* *(long long *)dst, a whole number in [lo, hi] */
    CLI_FLOAT,  /* *(float *)dst, a number in [lo, hi] */
    CLI_DOUBLE, /* *(double *)dst, a number in [lo, hi] */
    CLI_ENUM,   /* parse_enum(value, dst), one of names[0 .. count) */
    CLI_CUSTOM, /* parse(value, dst, error) */
} cli_kind;

typedef struct cli_flag {
    const char *name; /* "--epochs"; the heading of a CLI_GROUP */
    cli_kind kind;
    void *dst;
    double lo, hi;
    const char *value; /* how --help names the value: "N", "FILE" */
    const char *help;  /* one line; '\n' continues it on the next */
    /* CLI_ENUM: the library's TYPE_parse, and the names (for help and errors)
     * made from the enum's X-macro list with CLI_ENUM_NAMES. */
    clg_status (*parse_enum)(const char *value, void *dst);
    const char *const *names;
    int count;
    /* CLI_CUSTOM: reads value into dst; false with a sentence in error. */
    bool (*parse)(const char *value, void *dst, char *error, size_t len);
} cli_flag;

#define CLI_GROUP(title)                                                               \
    {                                                                                  \
        title, CLI_GROUP, NULL                                                         \
    }
#define CLI_END                                                                        \
    {                                                                                  \
        NULL, CLI_GROUP, NULL                                                          \
    }

/* names[] for CLI_ENUM from a public X-macro list: [VALUE] = "text". */
#define CLI_ENUM_NAME(name, value, text) [value] = text,
#define CLI_ENUM_NAMES(LIST)                                                           \
    {                                                                                  \
        LIST(CLI_ENUM_NAME)                                                            \
    }

/* Parses argv against the table. Arguments that are not flags go to
 * positional[0 .. max_positional). Returns -1 to go on, 0 after --help or
 * --version (printed), or CLI_USAGE_ERROR after one clear line on stderr.
 * usage(out) prints the lines before the flag list. */
int cli_parse(const char *tool, void (*usage)(FILE *out), const cli_flag *flags,
              int argc, char **argv, const char **positional, int max_positional);

/* Prints the usage and the flag table, grouped, with current values. */
void cli_help(FILE *out, void (*usage)(FILE *out), const cli_flag *flags);

/* "TOOL: MESSAGE" on stderr; returns CLI_USAGE_ERROR. */
int cli_usage_error(const char *tool, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "TOOL: clg_last_error()" on stderr; returns code. */
int cli_fail(const char *tool, int code);

#endif
