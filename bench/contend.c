/*
 * contend: what one acquisition of a lock shared by every worker costs as threads are added
 * (bench/cores.sh, docs/scaling.md). Shares no code with zcq: it models the broker's shared
 * state with the same primitives. Each of T threads runs the operation in a loop for a fixed
 * time, pinned one per CPU (round-robin over the CPUs it may use), and the program prints the
 * operations per second of all threads together and the nanoseconds each costs its thread:
 *
 *   rwlock-shared   pthread_rwlock_rdlock + unlock of one lock (the topic registry's lookup,
 *                   taken for every partition of every produce and fetch request)
 *   rwlock-private  the same on a lock per thread (the cost without sharing)
 *   mutex-shared    pthread_mutex_lock + unlock of one mutex (a partition log's mutex when every
 *                   worker appends to one partition; the group coordinator's lock)
 *   mutex-private   the same, a mutex per thread
 *   atomic-shared   an atomic increment and decrement of one counter (a partition's reference
 *                   count, taken and dropped around each append or read)
 *   atomic-private  the same, a counter per thread (each on its own cache line)
 *
 * Between acquisitions each thread does `work` nanoseconds of private work (default 0: the
 * worst case; a request's own work spaces real acquisitions out).
 *
 * Usage: contend OPERATION THREADS [SECONDS] [WORK_NS]
 * Output: one line, "op=... threads=T ops_per_s=... ns_per_op=... (per thread)".
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 256

struct slot { /* one cache line each: private state never shares a line */
    pthread_rwlock_t rw;
    pthread_mutex_t mu;
    atomic_long counter;
    long ops;
} __attribute__((aligned(128)));

static struct slot shared, priv[MAX_THREADS];
static atomic_bool stop, go;
static const char *op;
static long work_ns;

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Private work of about work_ns: a dependent chain of multiplications (no memory traffic). */
static uint64_t spin(uint64_t x, long ns)
{
    for (long i = 0; i < ns; i++)
        x = x * 6364136223846793005u + 1442695040888963407u;
    return x;
}

static void *run(void *arg)
{
    long id = (long)(intptr_t)arg;
    struct slot *s = strstr(op, "shared") ? &shared : &priv[id];
    uint64_t x = (uint64_t)id;
    long n = 0;

    while (!atomic_load_explicit(&go, memory_order_acquire))
        ;
    if (strncmp(op, "rwlock", 6) == 0) {
        while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
            pthread_rwlock_rdlock(&s->rw);
            pthread_rwlock_unlock(&s->rw);
            x = spin(x, work_ns);
            n++;
        }
    } else if (strncmp(op, "mutex", 5) == 0) {
        while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
            pthread_mutex_lock(&s->mu);
            pthread_mutex_unlock(&s->mu);
            x = spin(x, work_ns);
            n++;
        }
    } else {
        while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
            atomic_fetch_add_explicit(&s->counter, 1, memory_order_acq_rel);
            atomic_fetch_sub_explicit(&s->counter, 1, memory_order_acq_rel);
            x = spin(x, work_ns);
            n++;
        }
    }
    priv[id].ops = n + (long)(x & 0); /* x keeps the work from being optimised away */
    return NULL;
}

int main(int argc, char **argv)
{
    static const char *const ops[] = {"rwlock-shared", "rwlock-private", "mutex-shared",
                                      "mutex-private", "atomic-shared",  "atomic-private"};
    pthread_t th[MAX_THREADS];
    cpu_set_t allowed;
    int threads, ncpu = 0, cpus[CPU_SETSIZE];
    double secs;
    uint64_t t0, t1;
    long total = 0;
    int known = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: contend OPERATION THREADS [SECONDS] [WORK_NS]\n");
        return 2;
    }
    op = argv[1];
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        known |= strcmp(op, ops[i]) == 0;
    threads = atoi(argv[2]);
    secs = argc > 3 ? atof(argv[3]) : 2.0;
    work_ns = argc > 4 ? atol(argv[4]) : 0;
    if (!known || threads < 1 || threads > MAX_THREADS || secs <= 0) {
        fprintf(stderr, "contend: bad arguments (operations: rwlock-shared, rwlock-private, "
                        "mutex-shared, mutex-private, atomic-shared, atomic-private)\n");
        return 2;
    }
    pthread_rwlock_init(&shared.rw, NULL);
    pthread_mutex_init(&shared.mu, NULL);
    for (int i = 0; i < threads; i++) {
        pthread_rwlock_init(&priv[i].rw, NULL);
        pthread_mutex_init(&priv[i].mu, NULL);
    }
    if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
        for (int c = 0; c < CPU_SETSIZE; c++) {
            if (CPU_ISSET(c, &allowed))
                cpus[ncpu++] = c;
        }
    }
    for (int i = 0; i < threads; i++) {
        pthread_attr_t a;

        pthread_attr_init(&a);
        if (ncpu) {
            cpu_set_t one;

            CPU_ZERO(&one);
            CPU_SET(cpus[i % ncpu], &one);
            pthread_attr_setaffinity_np(&a, sizeof(one), &one);
        }
        if (pthread_create(&th[i], &a, run, (void *)(intptr_t)i) != 0) {
            fprintf(stderr, "contend: cannot start thread %d\n", i);
            return 1;
        }
        pthread_attr_destroy(&a);
    }
    t0 = now_ns();
    atomic_store_explicit(&go, true, memory_order_release);
    {
        struct timespec d = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};

        nanosleep(&d, NULL);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    t1 = now_ns();
    for (int i = 0; i < threads; i++)
        total += priv[i].ops;
    printf("op=%s threads=%d cpus=%d work_ns=%ld ops_per_s=%.0f ns_per_op=%.1f\n", op, threads,
           ncpu, work_ns, (double)total / ((double)(t1 - t0) / 1e9),
           (double)(t1 - t0) * threads / (double)(total ? total : 1));
    return 0;
}
