/* metrics: the daemon's counters, gauges and one histogram shape, rendered
 * in the Prometheus text format. A series is a family name plus its labels
 * as Prometheus writes them ('agent="eng",outcome="ok"'); families are
 * declared once with their type and help. Single-threaded, like the loop. */
#ifndef AB_UTIL_METRICS_H
#define AB_UTIL_METRICS_H

#include <stddef.h>

#include "util/strmap.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric_family {
	const char *name;
	enum metric_type type;
	const char *help;
};

struct metrics {
	const struct metric_family *families;
	size_t n_families;
	struct strmap series;	/* "name{labels}" -> struct series * */
	unsigned long long generation;	/* counts every change, so readers can tell */
};

/* `families` must outlive the registry. */
void metrics_init(struct metrics *m, const struct metric_family *families, size_t n);
void metrics_free(struct metrics *m);

/* Adds to a counter, sets a gauge, or observes a value (seconds) into a
 * histogram. Unknown families and out-of-memory are ignored: metrics never
 * fail the work they count. */
void metrics_add(struct metrics *m, const char *family, const char *labels, double v);
void metrics_set(struct metrics *m, const char *family, const char *labels, double v);
void metrics_observe(struct metrics *m, const char *family, const char *labels, double v);

/* The sum of `family`'s series whose labels contain `labels_part` (NULL:
 * all of them). Walks every series: not for each loop iteration. */
double metrics_sum(const struct metrics *m, const char *family, const char *labels_part);

/* The exposition text, malloc'd; NULL when out of memory. */
char *metrics_render(const struct metrics *m);

/* Writes `value` escaped for a label value (\\, \", \n) into `out`. */
void metrics_label_escape(const char *value, char *out, size_t len);

#endif
