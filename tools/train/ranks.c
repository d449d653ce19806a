/* What the ranks of a data-parallel run compare before training: their
 * flags and specs, then a hash of their data (dist.c starts the ranks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "train.h"

/* ---- What the ranks compare -------------------------------------------- */

enum { LINE = 1024 };

/* Set when the ranks found they disagree: every rank then exits 2 on its
 * own, and no rank needs to abort the others. */
static volatile bool ranks_disagree;

bool train_ranks_disagree(void)
{
    return ranks_disagree;
}

typedef struct rank_view {
    char flags[LINE];        /* the command line without --device(s) */
    unsigned long long spec; /* FNV-1a of the spec file */
    unsigned long long data; /* of the training data, once loaded */
} rank_view;

static void describe(const train_options *o, rank_view *v)
{
    memset(v, 0, sizeof *v);
    /* argv without the device choice, which may differ per rank */
    const char *line = o->command_line ? o->command_line : "";
    size_t used = 0;
    char copy[2048];
    snprintf(copy, sizeof copy, "%s", line);
    char *save = NULL;
    bool skip = false;
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (skip) {
            skip = false;
            continue;
        }
        if (!strcmp(w, "--device") || !strcmp(w, "--devices")) {
            skip = true;
            continue;
        }
        used += (size_t)snprintf(v->flags + used, used < LINE ? LINE - used : 0, "%s%s",
                                 used ? " " : "", w);
        if (used >= LINE)
            break;
    }
    v->spec = CLG_FNV_START;
    FILE *f = o->spec ? fopen(o->spec, "rb") : NULL;
    char buf[4096];
    size_t n;
    while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
        v->spec = clg_fnv1a(v->spec, buf, n);
    if (f)
        fclose(f);
}

unsigned long long train_data_hash(const clg_dataset *d)
{
    unsigned long long h = CLG_FNV_START;
    if (!d)
        return h;
    h = clg_fnv1a(h, &d->count, sizeof d->count);
    if (d->x) /* a lazy dataset's pixels are files, the same files on every rank */
        h = clg_fnv1a(h, d->x, (size_t)d->count * d->sample * sizeof *d->x);
    if (d->labels)
        h = clg_fnv1a(h, d->labels,
                      (size_t)d->count * (size_t)clg_dataset_label_len(d) *
                          sizeof *d->labels);
    return h;
}

/* Every rank's view against rank 0's: -1 when they agree, else 2 after a
 * line naming the rank and the difference. `data` compares the data hash
 * only (after loading); otherwise flags and spec. */
int train_compare_ranks(const train_options *o, unsigned long long data_hash, bool data)
{
    clg_comm *comm = o->comm;
    int size = clg_comm_size(comm);
    if (size < 2)
        return -1;
    rank_view mine, *all = malloc((size_t)size * sizeof *all);
    if (!all)
        return cli_usage_error(TOOL, "out of memory comparing the ranks");
    describe(o, &mine);
    mine.data = data_hash;
    if (clg_comm_allgather(comm, &mine, all, sizeof mine) != CLG_OK) {
        free(all);
        return cli_fail(TOOL, TRAIN_ERROR);
    }
    int rc = -1;
    for (int r = 1; rc < 0 && r < size; r++) {
        if (data && all[r].data != all[0].data)
            rc = cli_usage_error(
                TOOL,
                "rank %d's training data differs from rank 0's (another "
                "file, or another version of it): every rank needs the "
                "same data",
                r);
        else if (!data && strcmp(all[r].flags, all[0].flags))
            rc = cli_usage_error(TOOL,
                                 "rank %d was started with other flags than rank 0:\n"
                                 "  rank 0: %s\n  rank %d: %s",
                                 r, all[0].flags, r, all[r].flags);
        else if (!data && all[r].spec != all[0].spec)
            rc = cli_usage_error(TOOL,
                                 "rank %d's model spec %s differs from rank 0's: every "
                                 "rank needs the same spec",
                                 r, o->spec ? o->spec : "");
    }
    free(all);
    if (rc >= 0)
        ranks_disagree = true;
    return rc;
}
