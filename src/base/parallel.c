/* clg_parallel_for (parallel.h). */
#include <pthread.h>
#include <stdio.h>

#include "base/error.h"
#include "base/parallel.h"

enum { MAX_THREADS = 64 };

typedef struct loop {
    int count;
    clg_item_fn fn;
    void *user;
    pthread_mutex_t lock;
    int next;   /* the next item to take */
    int failed; /* the earliest item that failed (count: none) */
    clg_status status;
    char why[1024]; /* its sentence: errors are per thread */
} loop;

static void *run(void *arg)
{
    loop *l = arg;
    for (;;) {
        pthread_mutex_lock(&l->lock);
        int i = l->next < l->failed ? l->next++ : l->count;
        pthread_mutex_unlock(&l->lock);
        if (i >= l->count)
            return NULL;
        clg_status s = l->fn(i, l->user);
        pthread_mutex_lock(&l->lock);
        if (s != CLG_OK && i < l->failed) {
            l->failed = i, l->status = s;
            snprintf(l->why, sizeof l->why, "%s", clg_last_error());
        }
        pthread_mutex_unlock(&l->lock);
    }
}

clg_status clg_parallel_for(int count, int threads, clg_item_fn fn, void *user)
{
    loop l = {count, fn, user, PTHREAD_MUTEX_INITIALIZER, 0, count, CLG_OK, ""};
    threads = threads < count ? threads : count;
    threads = threads < MAX_THREADS ? threads : MAX_THREADS;
    pthread_t tid[MAX_THREADS];
    int started = 0;
    for (; started < threads - 1; started++)
        if (pthread_create(&tid[started], NULL, run, &l) != 0)
            break; /* fewer threads: the loop is the same */
    run(&l);
    for (int k = 0; k < started; k++)
        pthread_join(tid[k], NULL);
    pthread_mutex_destroy(&l.lock);
    return l.failed < count ? clg_fail(l.status, "%s", l.why) : CLG_OK;
}
