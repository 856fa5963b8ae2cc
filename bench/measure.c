/* bench/measure: clocks and summaries for the benchmarks. */
#include "bench/measure.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "test/harness.h"

int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU time of every thread of `pid`, in ns. */
int64_t cpu_ns(pid_t pid)
{
	char path[64], line[512];
	int64_t total = 0;
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	d = opendir(path);
	while (d && (e = readdir(d)) != NULL) {
		FILE *f;
		long long ns;

		if (e->d_name[0] == '.')
			continue;
		snprintf(line, sizeof line, "%s/%s/schedstat", path, e->d_name);
		f = fopen(line, "r");
		if (f && fscanf(f, "%lld", &ns) == 1)
			total += ns;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return total;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

void summarise(struct result *r, int64_t *lat, int n, int64_t cpu)
{
	int64_t sum = 0;

	for (int i = 0; i < n; i++)
		sum += lat[i];
	qsort(lat, (size_t)n, sizeof *lat, cmp64);
	r->mean_us = (double)sum / n / 1000.0;
	r->p50_us = (double)lat[n / 2] / 1000.0;
	r->p99_us = (double)lat[n * 99 / 100] / 1000.0;
	r->cpu_us = cpu < 0 ? -1 : (double)cpu / n / 1000.0;
}

void need(void *p, const char *what)
{
	if (!p) {
		fprintf(stderr, "bench: no %s within %d ms\n", what, TH_TIMEOUT_MS);
		exit(1);
	}
}

