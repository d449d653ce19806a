/* What a training run shows and writes as it goes: a progress bar on a
 * terminal, a line per epoch, the CSV log, the SVG plot, the per-epoch
 * checkpoints, and the test report at the end. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

/* " (1.234 bits/token)" for a text model's loss (nats), else "". */
static const char *bits(bool text, float loss)
{
    static char buf[2][32];
    static int k;
    if (!text)
        return "";
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], " (%.3f bits/token)", (double)loss / log(2.0));
    return buf[k];
}

static bool write_plot(const train_run *r);

static void fmt_time(double s, char *buf, size_t len)
{
    int t = (int)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%d:%02d", t / 60, t % 60);
}

bool train_on_step(const clg_step_info *s, void *user)
{
    train_run *r = user;
    r->steps = s->step;
    if (!r->tty || r->o->quiet)
        return true;
    int width = 24, done = (s->batch + 1) * width / s->batches;
    char bar[32], eta[16];
    for (int i = 0; i < width; i++)
        bar[i] = i < done ? '=' : i == done ? '>' : ' ';
    bar[width] = '\0';
    double rate = (double)(s->batch + 1) / (s->seconds > 0 ? s->seconds : 1e-9);
    fmt_time((s->batches - s->batch - 1) / rate, eta, sizeof eta);
    printf("\repoch %d [%s] %d/%d %6.0f samples/s ETA %s loss %.4f acc %.4f ",
           s->epoch + 1, bar, s->batch + 1, s->batches, s->samples_per_second, eta,
           (double)s->running_loss, (double)s->running_accuracy);
    fflush(stdout);
    return true;
}

void train_on_warning(const char *msg, void *user)
{
    train_run *r = user;
    if (r->tty && !r->o->quiet)
        printf("\n");
    fprintf(stderr, TOOL ": warning: %s\n", msg);
}

bool train_on_epoch(const clg_epoch_info *e, void *user)
{
    train_run *r = user;
    if (r->nhistory == r->cap) { /* without room the plot just misses the epoch */
        int cap = r->cap ? r->cap * 2 : 16;
        clg_epoch_info *grown = realloc(r->history, (size_t)cap * sizeof *grown);
        if (grown)
            r->history = grown, r->cap = cap;
    }
    if (r->nhistory < r->cap)
        r->history[r->nhistory++] = *e;
    if (e->best)
        r->best_val_loss = e->val_loss;
    if (!r->o->quiet) {
        char val[128] = "";
        bool text = train_is_text(r->o);
        if (!isnan(e->val_loss))
            snprintf(val, sizeof val, ", val loss %.4f%s acc %.4f%s",
                     (double)e->val_loss, bits(text, e->val_loss),
                     (double)e->val_accuracy, e->best ? " *" : "");
        printf("%sepoch %d/%d: lr %.3g, loss %.4f%s, acc %.4f%s, %.1f s, %.0f %s/s\n",
               r->tty ? "\r\033[K" : "", e->epoch + 1, r->o->epochs, (double)e->lr,
               (double)e->train_loss, bits(text, e->train_loss),
               (double)e->train_accuracy, val, e->seconds,
               e->samples_per_second * (text ? r->context : 1),
               text ? "tokens" : "samples");
        fflush(stdout);
    }
    if (r->log) {
        fprintf(r->log, "%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.3f,%.1f\n", e->epoch + 1,
                (double)e->lr, (double)e->train_loss, (double)e->train_accuracy,
                (double)e->val_loss, (double)e->val_accuracy, e->seconds,
                e->samples_per_second);
        if (fflush(r->log) != 0 || ferror(r->log)) {
            fprintf(stderr, TOOL ": --log %s: writing failed: %s\n", r->o->log,
                    strerror(errno));
            r->failed_io = true;
            return false;
        }
    }
    if (r->o->plot && !write_plot(r)) {
        r->failed_io = true;
        return false;
    }
    if (r->o->checkpoint_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/last.safetensors", r->o->checkpoint_dir);
        if (train_save_checkpoint(r, path, e->epoch + 1) >= 0)
            r->failed_io = true;
        else
            r->saved_epoch = e->epoch + 1;
        float score = isnan(e->val_loss) ? e->train_loss : e->val_loss;
        float *best = isnan(e->val_loss) ? &r->ckpt_best_train : &r->ckpt_best_val;
        if (!r->failed_io && score < *best) {
            *best = score;
            snprintf(path, sizeof path, "%s/best.safetensors", r->o->checkpoint_dir);
            if (train_save_checkpoint(r, path, e->epoch + 1) >= 0)
                r->failed_io = true;
        }
        if (r->failed_io)
            return false;
    }
    return true;
}

/* Loss and accuracy per epoch as an SVG line chart a browser shows; false,
 * with the reason on stderr, when the file cannot be written whole. */
static bool write_plot(const train_run *r)
{
    FILE *f = fopen(r->o->plot, "w");
    if (!f) {
        fprintf(stderr, TOOL ": --plot %s: %s\n", r->o->plot, strerror(errno));
        return false;
    }
    const int W = 480, H = 300, L = 50, T = 30, PW = 400, PH = 220;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"sans-serif\" font-size=\"11\">\n",
            2 * W, H);
    const char *titles[2] = {"loss", "accuracy"};
    const char *colors[2] = {"#1f77b4", "#ff7f0e"};
    for (int chart = 0; chart < 2; chart++) {
        int x0 = chart * W + L;
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < r->nhistory; i++) {
            const clg_epoch_info *e = &r->history[i];
            double v[2] = {chart ? e->train_accuracy : e->train_loss,
                           chart ? e->val_accuracy : e->val_loss};
            for (int k = 0; k < 2; k++)
                if (isfinite(v[k]))
                    lo = fmin(lo, v[k]), hi = fmax(hi, v[k]);
        }
        if (!(hi > lo))
            lo = isfinite(lo) ? lo - 0.5 : 0, hi = lo + 1;
        fprintf(f, "<text x=\"%d\" y=\"18\" font-size=\"14\">%s per epoch</text>\n", x0,
                titles[chart]);
        fprintf(f,
                "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                "stroke=\"#999\"/>\n",
                x0, T, PW, PH);
        fprintf(f,
                "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.3g</text>\n"
                "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.3g</text>\n",
                x0 - 4, T + 10, hi, x0 - 4, T + PH, lo);
        fprintf(f,
                "<text x=\"%d\" y=\"%d\">epoch 1</text><text x=\"%d\" y=\"%d\" "
                "text-anchor=\"end\">epoch %d</text>\n",
                x0, T + PH + 16, x0 + PW, T + PH + 16,
                r->nhistory ? r->history[r->nhistory - 1].epoch + 1 : 1);
        for (int k = 0; k < 2; k++) {
            fprintf(
                f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                colors[k]);
            for (int i = 0; i < r->nhistory; i++) {
                const clg_epoch_info *e = &r->history[i];
                double v = k ? (chart ? e->val_accuracy : e->val_loss)
                             : (chart ? e->train_accuracy : e->train_loss);
                if (!isfinite(v))
                    continue;
                double x =
                    x0 + (r->nhistory > 1 ? (double)i / (r->nhistory - 1) : 0.5) * PW;
                double y = T + (hi - v) / (hi - lo) * PH;
                fprintf(f, "%.1f,%.1f ", x, y);
            }
            fprintf(f, "\"/>\n");
            for (int i = 0; i < r->nhistory; i++) { /* a dot per epoch */
                const clg_epoch_info *e = &r->history[i];
                double v = k ? (chart ? e->val_accuracy : e->val_loss)
                             : (chart ? e->train_accuracy : e->train_loss);
                if (isfinite(v))
                    fprintf(
                        f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                        x0 + (r->nhistory > 1 ? (double)i / (r->nhistory - 1) : 0.5) *
                                 PW,
                        T + (hi - v) / (hi - lo) * PH, colors[k]);
            }
            bool any = false; /* a legend entry only for a line that exists */
            for (int i = 0; i < r->nhistory; i++)
                any |= isfinite(k ? r->history[i].val_loss : r->history[i].train_loss);
            if (any)
                fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>\n",
                        x0 + PW / 2 - 70 + 90 * k, T + PH + 16, colors[k],
                        k ? "validation" : "training");
        }
    }
    fprintf(f, "</svg>\n");
    bool ok = fflush(f) == 0 && !ferror(f);
    int err = errno;
    ok = fclose(f) == 0 && ok;
    if (!ok)
        fprintf(stderr, TOOL ": --plot %s: writing failed: %s\n", r->o->plot,
                strerror(err ? err : errno));
    return ok;
}

/* The confusion matrix, its rows named by the classes' names where the data
 * has them (a CSV's label strings), else by number. */
static void print_confusion(const clg_eval_report *e, const clg_dataset *d)
{
    char *const *names =
        d->class_names && d->classes == e->classes ? d->class_names : NULL;
    int width = 4;
    for (int t = 0; names && t < e->classes; t++)
        width = (int)strlen(names[t]) > width ? (int)strlen(names[t]) : width;
    width = width > 24 ? 24 : width;
    printf("confusion matrix (rows: true class, columns: predicted)\n%*s ", width, "");
    for (int p = 0; p < e->classes; p++)
        printf(" %5d", p);
    printf("   accuracy\n");
    for (int t = 0; t < e->classes; t++) {
        if (names)
            printf("%-*.*s ", width, width, names[t]);
        else
            printf("%*d ", width, t);
        for (int p = 0; p < e->classes; p++)
            printf(" %5d", e->confusion[t * e->classes + p]);
        printf("   %.4f\n", (double)e->class_accuracy[t]);
    }
    for (int t = 0; names && t < e->classes; t++)
        printf("%s%d %s", t ? ", " : "columns: ", t, names[t]);
    if (names)
        printf("\n");
}

int train_report_test(clg_model *m, const clg_dataset *test, bool text,
                      const char *source)
{
    clg_eval_report e;
    if (clg_evaluate(m, test, &e) != CLG_OK) { /* data that does not fit the model,
                                                 or weights that overflow */
        if (!source)
            return cli_fail(TOOL, CLI_USAGE_ERROR);
        fprintf(stderr, "%s: %s: %s\n", TOOL, source, clg_last_error());
        return CLI_USAGE_ERROR;
    }
    printf("test: loss %.4f%s, accuracy %.4f (%d %s)\n", (double)e.loss,
           bits(text, e.loss), (double)e.accuracy, e.count,
           text ? "windows" : "samples");
    if (e.confusion && !text) /* a vocabulary's matrix helps nobody */
        print_confusion(&e, test);
    clg_eval_report_free(&e);
    return -1;
}

/* "parameters 5.5 KiB, gradients ..., ...": a report's parts. */
static void memory_parts(const clg_memory_report *r, char *buf, size_t len)
{
    char b[6][32];
    snprintf(buf, len,
             "parameters %s, gradients %s, optimizer %s, activations %s, inputs %s, "
             "workspace %s",
             clg_format_bytes(r->parameters, b[0], 32),
             clg_format_bytes(r->gradients, b[1], 32),
             clg_format_bytes(r->optimizer, b[2], 32),
             clg_format_bytes(r->activations, b[3], 32),
             clg_format_bytes(r->inputs, b[4], 32),
             clg_format_bytes(r->workspace, b[5], 32));
}

void train_print_memory(clg_context *ctx, const clg_model *m, const clg_optimizer *opt)
{
    clg_memory_report r;
    if (clg_plan_memory_report(clg_model_plan(m), &r) != CLG_OK)
        return;
    r.optimizer = clg_optim_memory(opt);
    r.total += r.optimizer;
    uint64_t limit = clg_context_memory_limit(ctx);
    char parts[512], total[32], lim[32];
    memory_parts(&r, parts, sizeof parts);
    printf("Device memory: %s of the %s clgrad may use (%s); batches up to %d fit\n",
           clg_format_bytes(r.total, total, sizeof total),
           clg_format_bytes(limit, lim, sizeof lim), parts,
           clg_memory_largest_batch(&r, limit));
}

void train_print_memory_needed(clg_context *ctx, const clg_memory_report *one,
                               int batch, int largest, const char *why)
{
    uint64_t limit = clg_context_memory_limit(ctx);
    uint64_t grows = one->activations + one->inputs + one->workspace;
    char parts[512], need[32], lim[32], each[32];
    memory_parts(one, parts, sizeof parts);
    fprintf(
        stderr,
        "clgrad-train: a batch of %d needs about %s of device memory, and clgrad may "
        "use %s (%s). At a batch of 1: %s, of which %s grows with each sample.\n"
        "clgrad-train: the largest batch that fits is %d (--batch-size %d, with "
        "--accumulate for a larger effective batch)\n",
        batch,
        clg_format_bytes(one->total - grows + grows * (uint64_t)batch, need,
                         sizeof need),
        clg_format_bytes(limit, lim, sizeof lim), why, parts,
        clg_format_bytes(grows, each, sizeof each), largest, largest);
}
