/*
 * Oracle for TraceOracleTests: runs a fixed script of protocol flows on one libpq connection with
 * PQtrace enabled (timestamps suppressed), so its trace can be compared line for line with what
 * `pgwire trace` prints for the same session seen from the middle of the wire.
 *
 * Usage: pqtrace_script CONNINFO TRACEFILE [SCRIPT]
 *   SCRIPT is "full" (default) or "query:<sql>" (one simple query, for the `pgwire query --trace` test).
 * Progress and results go to stdout (one line per step); the trace goes to TRACEFILE.
 * Exit status: 0 when every step behaved as expected, 1 otherwise, 2 when connecting failed.
 *
 * Build: cc -o pqtrace_script pqtrace_script.c -I$(pg_config --includedir) -lpq
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <libpq-fe.h>

static int failures = 0;

static void
fail(const char *step, const char *detail)
{
	printf("FAIL %s: %s\n", step, detail ? detail : "");
	failures++;
}

/* Silences libpq's default notice printing (stderr); notices are visible in the trace. */
static void
quiet_notice(void *arg, const char *message)
{
	(void) arg;
	printf("notice: %s", message);
}

/* Runs a command and checks the result status; returns the result (caller clears it). */
static PGresult *
expect(PGresult *res, ExecStatusType want, const char *step, PGconn *conn)
{
	ExecStatusType got = PQresultStatus(res);

	if (got != want)
	{
		char		detail[512];

		snprintf(detail, sizeof(detail), "status %s, wanted %s: %s", PQresStatus(got), PQresStatus(want),
				 res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
		fail(step, detail);
	}
	else
		printf("ok %s\n", step);
	return res;
}

static void
exec_expect(PGconn *conn, const char *sql, ExecStatusType want)
{
	PQclear(expect(PQexec(conn, sql), want, sql, conn));
}

/* Reads results until PQgetResult returns NULL. */
static void
drain(PGconn *conn)
{
	PGresult   *res;

	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
}

static void
simple_queries(PGconn *conn)
{
	exec_expect(conn, "SELECT 1 AS one, 'two'::text AS two, NULL AS three", PGRES_TUPLES_OK);
	exec_expect(conn, "", PGRES_EMPTY_QUERY);
	exec_expect(conn,
				"CREATE TEMP TABLE trace_t (id int PRIMARY KEY, name text, data bytea); "
				"INSERT INTO trace_t VALUES (1, 'one', '\\x00ff'), (2, E'tab\\there', NULL); "
				"SELECT id, name, data FROM trace_t ORDER BY id",
				PGRES_TUPLES_OK);
	exec_expect(conn, "SELECT E'line1\\nline2' AS multi, 'caf\xc3\xa9' AS accented, repeat('x', 40) AS long",
				PGRES_TUPLES_OK);
	exec_expect(conn, "SET application_name = 'pqtrace oracle'", PGRES_COMMAND_OK);
}

static void
errors_and_notices(PGconn *conn)
{
	exec_expect(conn, "SELECT 1/0", PGRES_FATAL_ERROR);
	exec_expect(conn, "SELEC 1", PGRES_FATAL_ERROR);
	exec_expect(conn, "DO $$BEGIN RAISE NOTICE 'hello %', 42; RAISE WARNING 'careful'; END$$", PGRES_COMMAND_OK);
	/* Several statements, the second fails: the rest is skipped. */
	exec_expect(conn, "SELECT 1; SELECT 1/0; SELECT 3", PGRES_FATAL_ERROR);
}

static void
extended_queries(PGconn *conn)
{
	/* Text parameters, text results. */
	{
		const char *values[3] = {"42", "hello", NULL};
		PGresult   *res = PQexecParams(conn, "SELECT $1::int + 1 AS n, upper($2) AS s, $3::text IS NULL AS isnull",
										  3, NULL, values, NULL, NULL, 0);

		PQclear(expect(res, PGRES_TUPLES_OK, "execParams text", conn));
	}
	/* Binary parameters (int4, bytea) with declared types, binary results. */
	{
		uint32_t	n = htonl(123456);
		const char	blob[5] = {0x00, 0x01, 'A', '\n', (char) 0xff};
		const char *values[2] = {(const char *) &n, blob};
		int			lengths[2] = {4, 5};
		int			formats[2] = {1, 1};
		Oid			types[2] = {23, 17};
		PGresult   *res = PQexecParams(conn, "SELECT $1 * 2 AS doubled, $2 || '\\x7f'::bytea AS bytes, now() IS NOT NULL AS t",
										  2, types, values, lengths, formats, 1);

		PQclear(expect(res, PGRES_TUPLES_OK, "execParams binary", conn));
	}
	/* A parameter the server cannot parse: error in the extended protocol. */
	{
		const char *values[1] = {"not a number"};
		PGresult   *res = PQexecParams(conn, "SELECT $1::int", 1, NULL, values, NULL, NULL, 0);

		PQclear(expect(res, PGRES_FATAL_ERROR, "execParams error", conn));
	}
	/* Named prepared statement: prepare, describe, execute twice, deallocate. */
	{
		Oid			types[1] = {25};
		const char *values[1] = {"two"};
		PGresult   *res;

		res = PQprepare(conn, "by_name", "SELECT id, name FROM trace_t WHERE name = $1 OR $1 IS NULL ORDER BY id", 1, types);
		PQclear(expect(res, PGRES_COMMAND_OK, "prepare", conn));
		res = PQdescribePrepared(conn, "by_name");
		PQclear(expect(res, PGRES_COMMAND_OK, "describePrepared", conn));
		res = PQexecPrepared(conn, "by_name", 1, values, NULL, NULL, 0);
		PQclear(expect(res, PGRES_TUPLES_OK, "execPrepared", conn));
		values[0] = NULL;
		res = PQexecPrepared(conn, "by_name", 1, values, NULL, NULL, 0);
		PQclear(expect(res, PGRES_TUPLES_OK, "execPrepared null", conn));
		exec_expect(conn, "DEALLOCATE by_name", PGRES_COMMAND_OK);
	}
	/* An extended-protocol statement without a result set (NoData). */
	{
		PGresult   *res = PQexecParams(conn, "UPDATE trace_t SET name = name WHERE id = 1", 0, NULL, NULL, NULL, NULL, 0);

		PQclear(expect(res, PGRES_COMMAND_OK, "execParams update", conn));
	}
	/* Describe a portal: a cursor declared in a transaction. */
	exec_expect(conn, "BEGIN", PGRES_COMMAND_OK);
	exec_expect(conn, "DECLARE trace_cursor CURSOR FOR SELECT id FROM trace_t", PGRES_COMMAND_OK);
	PQclear(expect(PQdescribePortal(conn, "trace_cursor"), PGRES_COMMAND_OK, "describePortal", conn));
	exec_expect(conn, "FETCH 1 FROM trace_cursor", PGRES_TUPLES_OK);
	exec_expect(conn, "COMMIT", PGRES_COMMAND_OK);
}

static void
copy_in(PGconn *conn)
{
	PGresult   *res;

	res = PQexec(conn, "COPY trace_t (id, name) FROM STDIN");
	PQclear(expect(res, PGRES_COPY_IN, "copy in start", conn));
	if (PQputCopyData(conn, "10\tten\n", 7) != 1 || PQputCopyData(conn, "11\t\\N\n12\ttwelve\n", 16) != 1)
		fail("copy in data", PQerrorMessage(conn));
	if (PQputCopyEnd(conn, NULL) != 1)
		fail("copy in end", PQerrorMessage(conn));
	PQclear(expect(PQgetResult(conn), PGRES_COMMAND_OK, "copy in result", conn));
	drain(conn);

	/* The client gives up: CopyFail. */
	res = PQexec(conn, "COPY trace_t (id, name) FROM STDIN");
	PQclear(expect(res, PGRES_COPY_IN, "copy fail start", conn));
	PQputCopyData(conn, "20\ttwenty\n", 10);
	PQputCopyEnd(conn, "client changed its mind");
	PQclear(expect(PQgetResult(conn), PGRES_FATAL_ERROR, "copy fail result", conn));
	drain(conn);

	/* Binary COPY in: header, one tuple (int4 30, text "thirty"), trailer. */
	{
		static const char data[] =
			"PGCOPY\n\377\r\n\0"
			"\0\0\0\0" "\0\0\0\0"
			"\0\2" "\0\0\0\4" "\0\0\0\36" "\0\0\0\6" "thirty"
			"\377\377";
		res = PQexec(conn, "COPY trace_t (id, name) FROM STDIN (FORMAT binary)");
		PQclear(expect(res, PGRES_COPY_IN, "binary copy in start", conn));
		PQputCopyData(conn, data, sizeof(data) - 1);
		PQputCopyEnd(conn, NULL);
		PQclear(expect(PQgetResult(conn), PGRES_COMMAND_OK, "binary copy in result", conn));
		drain(conn);
	}
}

static void
copy_out(PGconn *conn, const char *sql, const char *step)
{
	PGresult   *res = PQexec(conn, sql);
	char	   *buffer;
	int			n,
				rows = 0;

	PQclear(expect(res, PGRES_COPY_OUT, step, conn));
	while ((n = PQgetCopyData(conn, &buffer, 0)) > 0)
	{
		rows++;
		PQfreemem(buffer);
	}
	if (n != -1)
		fail(step, PQerrorMessage(conn));
	PQclear(expect(PQgetResult(conn), PGRES_COMMAND_OK, step, conn));
	drain(conn);
	printf("%s: %d rows\n", step, rows);
}

static void
notifications(PGconn *conn)
{
	PGnotify   *notify;
	int			count = 0;
	char		sql[256];

	/* A channel of this session's own, so that concurrent runs do not hear each other. */
	snprintf(sql, sizeof(sql), "LISTEN trace_channel_%d", PQbackendPID(conn));
	exec_expect(conn, sql, PGRES_COMMAND_OK);
	snprintf(sql, sizeof(sql), "NOTIFY trace_channel_%d, 'first payload'", PQbackendPID(conn));
	exec_expect(conn, sql, PGRES_COMMAND_OK);
	snprintf(sql, sizeof(sql), "SELECT pg_notify('trace_channel_%d', 'second payload')", PQbackendPID(conn));
	exec_expect(conn, sql, PGRES_TUPLES_OK);
	PQconsumeInput(conn);
	while ((notify = PQnotifies(conn)) != NULL)
	{
		printf("notification %s: %s\n", notify->relname, notify->extra);
		count++;
		PQfreemem(notify);
	}
	if (count != 2)
		fail("notifications", "expected 2 notifications");
	exec_expect(conn, "UNLISTEN *", PGRES_COMMAND_OK);
}

static void
transactions(PGconn *conn)
{
	exec_expect(conn, "BEGIN", PGRES_COMMAND_OK);
	exec_expect(conn, "INSERT INTO trace_t VALUES (40, 'forty')", PGRES_COMMAND_OK);
	exec_expect(conn, "SAVEPOINT sp", PGRES_COMMAND_OK);
	exec_expect(conn, "INSERT INTO trace_t VALUES (40, 'duplicate')", PGRES_FATAL_ERROR);
	exec_expect(conn, "SELECT 1", PGRES_FATAL_ERROR);	/* in a failed transaction */
	exec_expect(conn, "ROLLBACK TO SAVEPOINT sp", PGRES_COMMAND_OK);
	exec_expect(conn, "COMMIT", PGRES_COMMAND_OK);
	exec_expect(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ", PGRES_COMMAND_OK);
	exec_expect(conn, "DELETE FROM trace_t WHERE id = 40", PGRES_COMMAND_OK);
	exec_expect(conn, "ROLLBACK", PGRES_COMMAND_OK);
}

/* Reads one pipeline segment's results: per statement a result and the NULL after it; then the sync. */
static void
pipeline_results(PGconn *conn, int statements, const char *step)
{
	PGresult   *res;
	int			i;

	for (i = 0; i <= statements; i++)
	{
		res = PQgetResult(conn);
		if (res == NULL)
		{
			fail(step, "unexpected NULL result");
			return;
		}
		printf("%s result %d: %s\n", step, i, PQresStatus(PQresultStatus(res)));
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
		{
			PQclear(res);
			if (i != statements)
				fail(step, "sync came early");
			return;
		}
		PQclear(res);
		res = PQgetResult(conn);
		if (res != NULL)
		{
			fail(step, "expected NULL after a result");
			PQclear(res);
		}
	}
}

/*
 * Pipeline mode. Each segment's results are read before the next segment is queued: PQtrace
 * prints a frontend message when libpq queues it, the proxy when it crosses the wire, and a
 * segment queued while the previous one's results are already arriving would put the lines in a
 * different (timing-dependent) order.
 */
static void
pipeline(PGconn *conn)
{
	const char *values[1] = {"7"};

	if (PQenterPipelineMode(conn) != 1)
	{
		fail("pipeline", PQerrorMessage(conn));
		return;
	}
	PQsendQueryParams(conn, "SELECT $1::int * 6 AS answer", 1, NULL, values, NULL, NULL, 0);
	PQsendQueryParams(conn, "INSERT INTO trace_t VALUES (50, 'fifty')", 0, NULL, NULL, NULL, NULL, 0);
	PQsendPrepare(conn, "pipelined", "SELECT count(*) FROM trace_t WHERE id > $1", 1, NULL);
	PQsendQueryPrepared(conn, "pipelined", 1, values, NULL, NULL, 0);
	PQpipelineSync(conn);
	pipeline_results(conn, 4, "pipeline");

	/* A failing statement aborts the rest of its segment. */
	PQsendQueryParams(conn, "SELECT 1/0", 0, NULL, NULL, NULL, NULL, 0);
	PQsendQueryParams(conn, "SELECT 'skipped'", 0, NULL, NULL, NULL, NULL, 0);
	PQpipelineSync(conn);
	pipeline_results(conn, 2, "aborted pipeline");

	if (PQexitPipelineMode(conn) != 1)
		fail("pipeline exit", PQerrorMessage(conn));
	else
		printf("ok pipeline\n");
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	FILE	   *trace;
	const char *script = argc > 3 ? argv[3] : "full";

	if (argc < 3)
	{
		fprintf(stderr, "usage: %s CONNINFO TRACEFILE [full|query:SQL]\n", argv[0]);
		return 2;
	}
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "connection failed: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return 2;
	}
	trace = fopen(argv[2], "w");
	if (trace == NULL)
	{
		perror(argv[2]);
		return 2;
	}
	PQsetNoticeProcessor(conn, quiet_notice, NULL);
	PQtrace(conn, trace);
	PQsetTraceFlags(conn, PQTRACE_SUPPRESS_TIMESTAMPS);

	if (strncmp(script, "query:", 6) == 0)
	{
		PGresult   *res = PQexec(conn, script + 6);
		char	   *buffer;

		printf("%s\n", PQresStatus(PQresultStatus(res)));
		if (PQresultStatus(res) == PGRES_COPY_OUT)
		{
			while (PQgetCopyData(conn, &buffer, 0) > 0)
				PQfreemem(buffer);
			drain(conn);
		}
		PQclear(res);
	}
	else
	{
		simple_queries(conn);
		errors_and_notices(conn);
		extended_queries(conn);
		copy_in(conn);
		copy_out(conn, "COPY trace_t TO STDOUT", "copy out");
		copy_out(conn, "COPY (SELECT id, data FROM trace_t ORDER BY id) TO STDOUT (FORMAT binary)", "binary copy out");
		notifications(conn);
		transactions(conn);
		pipeline(conn);
		exec_expect(conn, "SELECT count(*) AS rows FROM trace_t", PGRES_TUPLES_OK);
	}

	PQfinish(conn);				/* sends Terminate, which is traced too */
	fclose(trace);
	return failures == 0 ? 0 : 1;
}
