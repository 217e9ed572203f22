// The workloads of BENCHMARKS.md driven through libpq from C, the way a C program would use it.
//
//   BenchLibpq --workload W2-prepared --count 20000 --dsn "host=127.0.0.1 port=5432 ..."
//
// prints one JSON object (the same record as BenchCore's BenchResult) on stdout. CPU is this
// process's getrusage (user + sys) around the measured section only; peak RSS is VmHWM.
#define _GNU_SOURCE
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char *g_dsn = "";
static const char *g_workload = "";
static long g_count = 0;
static long g_warmup = -1;
static int g_workers = 64;
static int g_pool = 8;
static long g_rss_delta = -1;  // W7: VmRSS after opening everything minus before (KiB)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

typedef struct { double user, sys; long maxrss; } usage_t;

/// VmHWM of /proc/self/status (KiB). ru_maxrss is not used: after posix_spawn it starts from the
/// parent's peak, since Linux carries the old mm's high-water mark across exec.
static long peak_rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    long v = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmHWM:", 6) == 0) { v = strtol(line + 6, NULL, 10); break; }
    }
    fclose(f);
    return v;
}

/// VmRSS of /proc/self/status (KiB): the resident set now.
static long current_rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    long v = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) { v = strtol(line + 6, NULL, 10); break; }
    }
    fclose(f);
    return v;
}

static usage_t usage_now(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    usage_t u = { ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, peak_rss_kib() };
    return u;
}

static void json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { putchar('\\'); putchar(c); }
        else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static const char *unit_of(const char *workload) {
    if (strncmp(workload, "W1", 2) == 0 || strcmp(workload, "W7") == 0) return "connection";
    if (strncmp(workload, "W4", 2) == 0 || strcmp(workload, "W5") == 0) return "row";
    return "query";
}

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void emit(const char *status, const char *note, long ops, double wall, usage_t before, usage_t after,
                 uint64_t *lat, long nlat, long checksum) {
    printf("{\"driver\":\"libpq\",\"workload\":");
    json_string(g_workload);
    printf(",\"status\":");
    json_string(status);
    if (note) { printf(",\"note\":"); json_string(note); }
    printf(",\"unit\":\"%s\",\"operations\":%ld,\"wallSeconds\":%.6f,\"userCPUSeconds\":%.6f,\"systemCPUSeconds\":%.6f",
           unit_of(g_workload), ops, wall, after.user - before.user, after.sys - before.sys);
    if (lat && nlat > 0) {
        qsort(lat, (size_t)nlat, sizeof(uint64_t), cmp);
        long i50 = nlat / 2, i99 = (long)((double)nlat * 0.99);
        if (i99 >= nlat) i99 = nlat - 1;
        printf(",\"p50Micros\":%.3f,\"p99Micros\":%.3f", lat[i50] / 1000.0, lat[i99] / 1000.0);
    }
    printf(",\"peakRSSKiB\":%ld,\"baselineRSSKiB\":%ld,\"checksum\":%ld", after.maxrss, before.maxrss, checksum);
    if (g_rss_delta >= 0) printf(",\"rssDeltaKiB\":%ld", g_rss_delta);
    printf("}\n");
    fflush(stdout);
}


static void fail(const char *what, PGconn *conn) {
    char note[1024];
    snprintf(note, sizeof note, "%s: %s", what, conn ? PQerrorMessage(conn) : "");
    usage_t u = usage_now();
    emit("error", note, 0, 0, u, u, NULL, 0, 0);
    exit(1);
}

static PGconn *connect_or_die(void) {
    PGconn *c = PQconnectdb(g_dsn);
    if (PQstatus(c) != CONNECTION_OK) fail("connect", c);
    return c;
}

static void exec_or_die(PGconn *c, const char *sql) {
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) fail(sql, c);
    PQclear(r);
}

static void prepare_or_die(PGconn *c) {
    PGresult *r = PQprepare(c, "s", "SELECT $1::int", 1, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) fail("prepare", c);
    PQclear(r);
}

/// One prepared `SELECT $1::int` round trip with a text parameter; returns the value.
static long select_int(PGconn *c, long i) {
    char buf[24];
    snprintf(buf, sizeof buf, "%ld", i);
    const char *values[1] = { buf };
    PGresult *r = PQexecPrepared(c, "s", 1, values, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) fail("SELECT $1::int", c);
    long v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

// MARK: W1

static void w1(void) {
    long warmup = g_warmup >= 0 ? g_warmup : 5;
    for (long i = 0; i < warmup; i++) PQfinish(connect_or_die());
    usage_t before = usage_now();
    double start = now_s();
    for (long i = 0; i < g_count; i++) PQfinish(connect_or_die());
    double wall = now_s() - start;
    emit("ok", NULL, g_count, wall, before, usage_now(), NULL, 0, 0);
}

// MARK: W2

static void w2(int prepared) {
    PGconn *c = connect_or_die();
    if (prepared) prepare_or_die(c);
    long warmup = g_warmup >= 0 ? g_warmup : 500;
    long checksum = 0;
    for (long i = 0; i < warmup; i++) {
        if (prepared) checksum += select_int(c, i);
        else { PGresult *r = PQexec(c, "SELECT 1"); checksum += atoi(PQgetvalue(r, 0, 0)); PQclear(r); }
    }
    uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)g_count);
    checksum = 0;
    usage_t before = usage_now();
    double start = now_s();
    for (long i = 0; i < g_count; i++) {
        uint64_t t = now_ns();
        if (prepared) {
            checksum += select_int(c, i);
        } else {
            PGresult *r = PQexec(c, "SELECT 1");
            if (PQresultStatus(r) != PGRES_TUPLES_OK) fail("SELECT 1", c);
            checksum += atoi(PQgetvalue(r, 0, 0));
            PQclear(r);
        }
        lat[i] = now_ns() - t;
    }
    double wall = now_s() - start;
    usage_t after = usage_now();
    PQfinish(c);
    emit("ok", NULL, g_count, wall, before, after, lat, g_count, checksum);
}

// MARK: W3

typedef struct { long sent, received; int sync_sent, sync_received; long checksum; } pipe_state;

/// Reads every result that is already complete (never blocks).
static void pipe_drain(PGconn *c, pipe_state *s) {
    while ((s->received < s->sent || (s->sync_sent && !s->sync_received)) && !PQisBusy(c)) {
        PGresult *r = PQgetResult(c);
        if (r == NULL) continue;  // end of one query's results
        switch (PQresultStatus(r)) {
        case PGRES_TUPLES_OK:
            s->checksum += strtol(PQgetvalue(r, 0, 0), NULL, 10);
            s->received++;
            break;
        case PGRES_PIPELINE_SYNC:
            s->sync_received = 1;
            break;
        default:
            fail("pipelined query", c);
        }
        PQclear(r);
    }
}

static void pipe_wait(PGconn *c, int want_write) {
    struct pollfd p = { PQsocket(c), (short)(POLLIN | (want_write ? POLLOUT : 0)), 0 };
    while (poll(&p, 1, -1) < 0 && errno == EINTR) {}
    if (!PQconsumeInput(c)) fail("consume input", c);
}

static long w3_run(PGconn *c, long count) {
    pipe_state s = { 0 };
    char buf[24];
    const char *values[1] = { buf };
    while (s.sent < count) {
        snprintf(buf, sizeof buf, "%ld", s.sent);
        if (!PQsendQueryPrepared(c, "s", 1, values, NULL, NULL, 0)) fail("send", c);
        s.sent++;
        if (s.sent % 128 == 0) {
            if (PQflush(c) < 0) fail("flush", c);
            if (!PQconsumeInput(c)) fail("consume input", c);
            pipe_drain(c, &s);
        }
    }
    if (!PQpipelineSync(c)) fail("sync", c);
    s.sync_sent = 1;
    for (;;) {
        int f = PQflush(c);
        if (f < 0) fail("flush", c);
        pipe_drain(c, &s);
        if (s.sync_received) break;
        pipe_wait(c, f == 1);
    }
    // The NULL that ends the sync's results (none in libpq 15, tolerated if present).
    return s.checksum;
}

static void w3(void) {
    PGconn *c = connect_or_die();
    prepare_or_die(c);
    if (PQsetnonblocking(c, 1) != 0) fail("nonblocking", c);
    if (!PQenterPipelineMode(c)) fail("pipeline mode", c);
    long warmup = g_warmup >= 0 ? g_warmup : 1000;
    w3_run(c, warmup);
    usage_t before = usage_now();
    double start = now_s();
    long checksum = w3_run(c, g_count);
    double wall = now_s() - start;
    usage_t after = usage_now();
    PQfinish(c);
    emit("ok", NULL, g_count, wall, before, after, NULL, 0, checksum);
}

// MARK: W4

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static long digits(const char **p, int n) {
    long v = 0;
    for (int i = 0; i < n && **p >= '0' && **p <= '9'; i++, (*p)++) v = v * 10 + (**p - '0');
    return v;
}

/// timestamptz text in DateStyle ISO ("2026-11-24 12:34:56.123456+00[:30]") → seconds since 1970.
static double parse_timestamptz(const char *s) {
    const char *p = s;
    long y = digits(&p, 9); p++;
    long mo = digits(&p, 2); p++;
    long d = digits(&p, 2); p++;
    long h = digits(&p, 2); p++;
    long mi = digits(&p, 2); p++;
    long se = digits(&p, 2);
    double frac = 0;
    if (*p == '.') {
        p++;
        double scale = 0.1;
        while (*p >= '0' && *p <= '9') { frac += (*p - '0') * scale; scale /= 10; p++; }
    }
    long offset = 0;
    if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        p++;
        long oh = digits(&p, 2), om = 0, os = 0;
        if (*p == ':') { p++; om = digits(&p, 2); }
        if (*p == ':') { p++; os = digits(&p, 2); }
        offset = sign * (oh * 3600 + om * 60 + os);
    }
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    return (double)(days * 86400 + h * 3600 + mi * 60 + se - offset) + frac;
}

static void w4(void) {
    PGconn *c = connect_or_die();
    exec_or_die(c, "SELECT 1");
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT i, i::text, i*1.5::float8, now(), md5(i::text) FROM generate_series(1,%ld) i", g_count);
    char text1[64], text4[64];
    long checksum = 0, rows = 0;
    usage_t before = usage_now();
    double start = now_s();
    if (!PQsendQuery(c, sql)) fail("send", c);
    if (!PQsetSingleRowMode(c)) fail("single-row mode", c);
    PGresult *r;
    while ((r = PQgetResult(c)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE) {
            long a = strtol(PQgetvalue(r, 0, 0), NULL, 10);
            int l1 = PQgetlength(r, 0, 1);
            memcpy(text1, PQgetvalue(r, 0, 1), (size_t)l1 < sizeof text1 ? (size_t)l1 : sizeof text1);
            double f = strtod(PQgetvalue(r, 0, 2), NULL);
            double t = parse_timestamptz(PQgetvalue(r, 0, 3));
            int l4 = PQgetlength(r, 0, 4);
            memcpy(text4, PQgetvalue(r, 0, 4), (size_t)l4 < sizeof text4 ? (size_t)l4 : sizeof text4);
            checksum += a + l1 + (long)f + (long)t + l4 + text1[0] + text4[0];
            rows++;
        } else if (st != PGRES_TUPLES_OK) {
            fail("W4 query", c);
        }
        PQclear(r);
    }
    double wall = now_s() - start;
    usage_t after = usage_now();
    PQfinish(c);
    if (rows != g_count) fail("W4: wrong row count", NULL);
    emit("ok", NULL, rows, wall, before, after, NULL, 0, checksum);
}

// MARK: W5

static char *put_long(char *p, long v) {
    char tmp[24];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

static void w5(void) {
    PGconn *c = connect_or_die();
    char table[64], sql[256];
    snprintf(table, sizeof table, "bench_copy_libpq_%d", (int)getpid());
    snprintf(sql, sizeof sql, "CREATE UNLOGGED TABLE %s (i int, t text)", table);
    exec_or_die(c, sql);
    snprintf(sql, sizeof sql, "COPY %s (i, t) FROM STDIN", table);
    enum { CHUNK = 64 * 1024 };
    char *buf = malloc(CHUNK + 64);
    usage_t before = usage_now();
    double start = now_s();
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) fail("COPY", c);
    PQclear(r);
    char *p = buf;
    for (long i = 1; i <= g_count; i++) {
        p = put_long(p, i);
        *p++ = '\t';
        memcpy(p, "row ", 4); p += 4;
        p = put_long(p, i);
        *p++ = '\n';
        if (p - buf >= CHUNK) {
            if (PQputCopyData(c, buf, (int)(p - buf)) != 1) fail("copy data", c);
            p = buf;
        }
    }
    if (p > buf && PQputCopyData(c, buf, (int)(p - buf)) != 1) fail("copy data", c);
    if (PQputCopyEnd(c, NULL) != 1) fail("copy end", c);
    r = PQgetResult(c);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) fail("COPY result", c);
    long copied = atol(PQcmdTuples(r));
    PQclear(r);
    while ((r = PQgetResult(c)) != NULL) PQclear(r);
    double wall = now_s() - start;
    usage_t after = usage_now();
    snprintf(sql, sizeof sql, "DROP TABLE %s", table);
    exec_or_die(c, sql);
    PQfinish(c);
    if (copied != g_count) fail("W5: wrong row count", NULL);
    emit("ok", NULL, copied, wall, before, after, NULL, 0, copied);
}

// MARK: W6

static PGconn **pool_conns;
static int *pool_free;
static int pool_nfree;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static long w6_next = 0;
static long w6_sum = 0;

static void *w6_worker(void *arg) {
    (void)arg;
    long local = 0;
    for (;;) {
        long i = __atomic_fetch_add(&w6_next, 1, __ATOMIC_RELAXED);
        if (i >= g_count) break;
        pthread_mutex_lock(&pool_lock);
        while (pool_nfree == 0) pthread_cond_wait(&pool_cond, &pool_lock);
        int k = pool_free[--pool_nfree];
        pthread_mutex_unlock(&pool_lock);
        local += select_int(pool_conns[k], i);
        pthread_mutex_lock(&pool_lock);
        pool_free[pool_nfree++] = k;
        pthread_cond_signal(&pool_cond);
        pthread_mutex_unlock(&pool_lock);
    }
    __atomic_fetch_add(&w6_sum, local, __ATOMIC_RELAXED);
    return NULL;
}

static void w6(void) {
    pool_conns = calloc((size_t)g_pool, sizeof(PGconn *));
    pool_free = calloc((size_t)g_pool, sizeof(int));
    for (int k = 0; k < g_pool; k++) {
        pool_conns[k] = connect_or_die();
        prepare_or_die(pool_conns[k]);
        pool_free[pool_nfree++] = k;
    }
    pthread_t *threads = calloc((size_t)g_workers, sizeof(pthread_t));
    usage_t before = usage_now();
    double start = now_s();
    for (int w = 0; w < g_workers; w++) pthread_create(&threads[w], NULL, w6_worker, NULL);
    for (int w = 0; w < g_workers; w++) pthread_join(threads[w], NULL);
    double wall = now_s() - start;
    usage_t after = usage_now();
    for (int k = 0; k < g_pool; k++) PQfinish(pool_conns[k]);
    emit("ok", NULL, g_count, wall, before, after, NULL, 0, w6_sum);
}

// MARK: W7

static PGconn **w7_conns;
static long w7_next = 0;
static int w7_failed = 0;

static void *w7_opener(void *arg) {
    (void)arg;
    for (;;) {
        long i = __atomic_fetch_add(&w7_next, 1, __ATOMIC_RELAXED);
        if (i >= g_count) break;
        PGconn *c = PQconnectdb(g_dsn);
        w7_conns[i] = c;
        if (PQstatus(c) != CONNECTION_OK) { __atomic_store_n(&w7_failed, 1, __ATOMIC_RELAXED); break; }
    }
    return NULL;
}

/// g_count idle connections held open, opened by g_workers (50) threads calling PQconnectdb.
static void w7(void) {
    int openers = g_workers < g_count ? g_workers : (int)g_count;
    PQfinish(connect_or_die());
    w7_conns = calloc((size_t)g_count, sizeof(PGconn *));
    pthread_t *threads = calloc((size_t)openers, sizeof(pthread_t));
    long rss_before = current_rss_kib();
    usage_t before = usage_now();
    double start = now_s();
    for (int w = 0; w < openers; w++) pthread_create(&threads[w], NULL, w7_opener, NULL);
    for (int w = 0; w < openers; w++) pthread_join(threads[w], NULL);
    double wall = now_s() - start;
    usage_t after = usage_now();
    g_rss_delta = current_rss_kib() - rss_before;
    if (w7_failed) {
        for (long i = 0; i < g_count; i++) if (w7_conns[i] && PQstatus(w7_conns[i]) != CONNECTION_OK) fail("W7 connect", w7_conns[i]);
    }
    for (long i = 0; i < g_count; i++) PQfinish(w7_conns[i]);
    char note[64];
    snprintf(note, sizeof note, "PQconnectdb on %d threads", openers);
    emit("ok", note, g_count, wall, before, after, NULL, 0, 0);
}

int main(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--dsn") == 0) g_dsn = argv[i + 1];
        else if (strcmp(argv[i], "--workload") == 0) g_workload = argv[i + 1];
        else if (strcmp(argv[i], "--count") == 0) g_count = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--warmup") == 0) g_warmup = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--workers") == 0) g_workers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--pool") == 0) g_pool = atoi(argv[i + 1]);
        // Other options (the PostgresNIO programs' --host, --port, …) are not needed here.
    }
    if (g_count <= 0) { fprintf(stderr, "usage: BenchLibpq --workload ID --count N --dsn CONNINFO\n"); return 64; }
    if (strncmp(g_workload, "W1", 2) == 0) w1();
    else if (strcmp(g_workload, "W2-prepared") == 0) w2(1);
    else if (strcmp(g_workload, "W2-simple") == 0) w2(0);
    else if (strcmp(g_workload, "W3") == 0) w3();
    else if (strcmp(g_workload, "W4") == 0) w4();
    else if (strcmp(g_workload, "W2a") == 0 || strcmp(g_workload, "W4a") == 0 || strcmp(g_workload, "W6a") == 0) {
        /* libpq has no async/await API: the async workloads do not apply. */
        printf("{\"driver\":\"libpq\",\"workload\":\"%s\",\"status\":\"not yet\",\"note\":\"n/a: libpq has no async API\","
               "\"unit\":\"%s\",\"operations\":0,\"wallSeconds\":0,\"userCPUSeconds\":0,\"systemCPUSeconds\":0,"
               "\"peakRSSKiB\":0,\"baselineRSSKiB\":0}\n", g_workload, unit_of(g_workload));
    }
    else if (strcmp(g_workload, "W5") == 0) w5();
    else if (strcmp(g_workload, "W6") == 0) w6();
    else if (strcmp(g_workload, "W7") == 0) w7();
    else { fprintf(stderr, "unknown workload %s\n", g_workload); return 64; }
    return 0;
}
