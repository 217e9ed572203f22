/*
 * Oracle for ConfigurationTests: parses argv[1] with libpq's PQconninfoParse and prints each option
 * the string set as "keyword=value" (one per line; in values, backslash, newline and carriage return
 * are written as \\, \n and \r), or "ERROR: <message>" when libpq rejects the string.
 *
 * Build: cc -o conninfo conninfo.c -I$(pg_config --includedir) -lpq
 */
#include <stdio.h>
#include <string.h>
#include <libpq-fe.h>

static void print_escaped(const char *s)
{
	for (; *s; s++)
	{
		if (*s == '\\')
			fputs("\\\\", stdout);
		else if (*s == '\n')
			fputs("\\n", stdout);
		else if (*s == '\r')
			fputs("\\r", stdout);
		else
			putchar(*s);
	}
}

int
main(int argc, char **argv)
{
	char	   *err = NULL;
	PQconninfoOption *options;
	PQconninfoOption *o;

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s CONNINFO\n", argv[0]);
		return 2;
	}
	options = PQconninfoParse(argv[1], &err);
	if (options == NULL)
	{
		size_t		len = err ? strlen(err) : 0;

		while (len > 0 && (err[len - 1] == '\n' || err[len - 1] == '\r'))
			err[--len] = '\0';
		fputs("ERROR: ", stdout);
		print_escaped(err ? err : "out of memory");
		putchar('\n');
		PQfreemem(err);
		return 0;
	}
	for (o = options; o->keyword; o++)
	{
		if (o->val == NULL)
			continue;
		fputs(o->keyword, stdout);
		putchar('=');
		print_escaped(o->val);
		putchar('\n');
	}
	PQconninfoFree(options);
	return 0;
}
