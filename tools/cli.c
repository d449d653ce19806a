/* Flags from one table: parsing and --help (cli.h). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "cli.h"

int cli_usage_error(const char *tool, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", tool);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return CLI_USAGE_ERROR;
}

int cli_fail(const char *tool, int code)
{
    fprintf(stderr, "%s: %s\n", tool, clg_last_error());
    return code;
}

static const cli_flag *find(const cli_flag *flags, const char *name, size_t len)
{
    for (const cli_flag *f = flags; f->name || f->dst; f++)
        if (f->kind != CLI_GROUP && strlen(f->name) == len &&
            !strncmp(f->name, name, len))
            return f;
    return NULL;
}

/* Sets the flag from its value; -1 when fine, else the exit status. */
static int set_value(const char *tool, const cli_flag *f, const char *v)
{
    long long n;
    double d;
    char names[512], error[512] = "";
    switch (f->kind) {
    case CLI_STRING:
        *(const char **)f->dst = v;
        return -1;
    case CLI_INT:
    case CLI_LONG:
        if (!clg_parse_int(v, (long long)f->lo, (long long)f->hi, &n))
            return cli_usage_error(tool,
                                   "%s: '%s' is not a whole number in [%lld, %lld]",
                                   f->name, v, (long long)f->lo, (long long)f->hi);
        if (f->kind == CLI_INT)
            *(int *)f->dst = (int)n;
        else
            *(long long *)f->dst = n;
        return -1;
    case CLI_FLOAT:
    case CLI_DOUBLE:
        if (!clg_parse_double(v, f->lo, f->hi, &d))
            return cli_usage_error(tool, "%s: '%s' is not a number in [%g, %g]",
                                   f->name, v, f->lo, f->hi);
        if (f->kind == CLI_FLOAT)
            *(float *)f->dst = (float)d;
        else
            *(double *)f->dst = d;
        return -1;
    case CLI_ENUM:
        if (f->parse_enum(v, f->dst) != CLG_OK)
            return cli_usage_error(
                tool, "%s: unknown value '%s' (%s)", f->name, v,
                clg_enum_list(f->names, f->count, names, sizeof names));
        return -1;
    case CLI_CUSTOM:
        if (!f->parse(v, f->dst, error, sizeof error))
            return cli_usage_error(tool, "%s: %s", f->name, error);
        return -1;
    case CLI_GROUP:
    case CLI_SWITCH:
        break;
    }
    return -1;
}

int cli_parse(const char *tool, void (*usage)(FILE *out), const cli_flag *flags,
              int argc, char **argv, const char **positional, int max_positional)
{
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            cli_help(stdout, usage, flags);
            return 0;
        }
        if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
            printf("%s %s\n", tool, clg_version());
            return 0;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (npos == max_positional)
                return cli_usage_error(tool, "unexpected argument '%s' (try --help)",
                                       a);
            positional[npos++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        const cli_flag *f = find(flags, a, eq ? (size_t)(eq - a) : strlen(a));
        if (!f)
            return cli_usage_error(tool, "unknown option '%.*s' (try --help)",
                                   eq ? (int)(eq - a) : (int)strlen(a), a);
        if (f->kind == CLI_SWITCH) {
            if (eq)
                return cli_usage_error(tool, "%s takes no value", f->name);
            *(bool *)f->dst = true;
            continue;
        }
        if (!eq && i + 1 >= argc)
            return cli_usage_error(tool, "%s needs a value (try --help)", f->name);
        int rc = set_value(tool, f, eq ? eq + 1 : argv[++i]);
        if (rc >= 0)
            return rc;
    }
    return -1;
}

/* The flag's value as a default worth showing, or "" (zero, none, a switch). */
static const char *current(const cli_flag *f, char *buf, size_t len)
{
    buf[0] = '\0';
    switch (f->kind) {
    case CLI_STRING:
        if (*(const char *const *)f->dst)
            snprintf(buf, len, "%s", *(const char *const *)f->dst);
        break;
    case CLI_INT:
        if (*(const int *)f->dst)
            snprintf(buf, len, "%d", *(const int *)f->dst);
        break;
    case CLI_LONG:
        if (*(const long long *)f->dst)
            snprintf(buf, len, "%lld", *(const long long *)f->dst);
        break;
    case CLI_FLOAT:
        if (*(const float *)f->dst != 0.0f)
            snprintf(buf, len, "%g", (double)*(const float *)f->dst);
        break;
    case CLI_DOUBLE:
        if (*(const double *)f->dst != 0.0)
            snprintf(buf, len, "%g", *(const double *)f->dst);
        break;
    case CLI_ENUM: {
        int v = *(const int *)f->dst;
        if (v >= 0 && v < f->count && f->names[v])
            snprintf(buf, len, "%s", f->names[v]);
        break;
    }
    case CLI_GROUP:
    case CLI_SWITCH:
    case CLI_CUSTOM:
        break;
    }
    return buf;
}

void cli_help(FILE *out, void (*usage)(FILE *out), const cli_flag *flags)
{
    enum { COLUMN = 32 };
    usage(out);
    for (const cli_flag *f = flags; f->name || f->dst; f++) {
        if (f->kind == CLI_GROUP) {
            fprintf(out, "\n%s\n", f->name);
            continue;
        }
        char left[256], names[256], now[64];
        const char *value = f->value;
        if (f->kind == CLI_ENUM && !value) {
            size_t used = 0;
            names[0] = '\0';
            for (int i = 0; i < f->count && used < sizeof names; i++)
                if (f->names[i])
                    used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                             used ? "|" : "", f->names[i]);
            value = names;
        }
        int n = snprintf(left, sizeof left, "  %s%s%s", f->name, value ? " " : "",
                         value ? value : "");
        fprintf(out, "%s", left);
        if (n >= COLUMN - 1)
            fprintf(out, "\n%*s", COLUMN, "");
        else
            fprintf(out, "%*s", COLUMN - n, "");
        for (const char *h = f->help ? f->help : ""; *h; h++) {
            fputc(*h, out);
            if (*h == '\n')
                fprintf(out, "%*s", COLUMN, "");
        }
        if (*current(f, now, sizeof now))
            fprintf(out, " (default %s)", now);
        fputc('\n', out);
    }
    fprintf(out, "\n  -h, --help                    this help\n"
                 "  -V, --version                 the version\n");
}
