/* metrics: series in a string map; rendering walks the families in their
 * declared order and each family's series sorted by labels, so a scrape is
 * stable from one to the next. */
#include "util/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Turn durations: 5 ms to 10 min. */
static const double buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
				  60, 120, 300, 600 };
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

struct series {
	const struct metric_family *family;
	char *labels;
	double value;			/* counter, gauge; histogram: the sum */
	unsigned long long count;	/* histogram */
	unsigned long long in_bucket[N_BUCKETS];
};

void metrics_init(struct metrics *m, const struct metric_family *families, size_t n)
{
	memset(m, 0, sizeof *m);
	m->families = families;
	m->n_families = n;
}

static void free_series(void *arg, const char *key, void *value)
{
	struct series *s = value;

	(void)arg;
	(void)key;
	free(s->labels);
	free(s);
}

void metrics_free(struct metrics *m)
{
	strmap_each(&m->series, free_series, NULL);
	strmap_free(&m->series);
}

static const struct metric_family *family_named(const struct metrics *m, const char *name)
{
	for (size_t i = 0; i < m->n_families; i++)
		if (strcmp(m->families[i].name, name) == 0)
			return &m->families[i];
	return NULL;
}

static struct series *series_of(struct metrics *m, const char *family, const char *labels)
{
	const struct metric_family *f = family_named(m, family);
	char key[512];
	struct series *s;

	if (!f)
		return NULL;
	snprintf(key, sizeof key, "%s{%s}", family, labels ? labels : "");
	s = strmap_get(&m->series, key);
	if (s)
		return s;
	s = calloc(1, sizeof *s);
	if (!s || !(s->labels = strdup(labels ? labels : "")) || strmap_put(&m->series, key, s) != 0) {
		if (s)
			free(s->labels);
		free(s);
		return NULL;
	}
	s->family = f;
	return s;
}

void metrics_add(struct metrics *m, const char *family, const char *labels, double v)
{
	struct series *s = series_of(m, family, labels);

	if (s) {
		s->value += v;
		m->generation++;
	}
}

void metrics_set(struct metrics *m, const char *family, const char *labels, double v)
{
	struct series *s = series_of(m, family, labels);

	if (s && s->value != v) {
		s->value = v;
		m->generation++;
	}
}

void metrics_observe(struct metrics *m, const char *family, const char *labels, double v)
{
	struct series *s = series_of(m, family, labels);

	if (!s)
		return;
	m->generation++;
	s->value += v;
	s->count++;
	for (size_t i = 0; i < N_BUCKETS; i++)
		if (v <= buckets[i])
			s->in_bucket[i]++;
}

void metrics_label_escape(const char *value, char *out, size_t len)
{
	size_t o = 0;

	for (; *value && o + 3 < len; value++) {
		if (*value == '\\' || *value == '"') {
			out[o++] = '\\';
			out[o++] = *value;
		} else if (*value == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *value;
		}
	}
	out[o] = '\0';
}

struct sum {
	const char *family;
	const char *labels_part;
	double total;
};

static void add_to_sum(void *arg, const char *key, void *value)
{
	struct sum *s = arg;
	const struct series *x = value;

	(void)key;
	if (strcmp(x->family->name, s->family) == 0 &&
	    (!s->labels_part || strstr(x->labels, s->labels_part)))
		s->total += x->value;
}

double metrics_sum(const struct metrics *m, const char *family, const char *labels_part)
{
	struct sum s = { family, labels_part, 0 };

	strmap_each(&m->series, add_to_sum, &s);
	return s.total;
}

struct collect {
	const struct metric_family *family;
	const struct series **list;
	size_t n, cap;
	int failed;
};

static void collect_family(void *arg, const char *key, void *value)
{
	struct collect *c = arg;
	const struct series *s = value;

	(void)key;
	if (s->family != c->family || c->failed)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		const struct series **grown = realloc(c->list, cap * sizeof *grown);

		if (!grown) {
			c->failed = 1;
			return;
		}
		c->list = grown;
		c->cap = cap;
	}
	c->list[c->n++] = s;
}

static int by_labels(const void *a, const void *b)
{
	return strcmp((*(const struct series *const *)a)->labels,
		      (*(const struct series *const *)b)->labels);
}

static void render_series(FILE *f, const struct series *s)
{
	const char *name = s->family->name, *sep = s->labels[0] ? "," : "";

	if (s->family->type != METRIC_HISTOGRAM) {
		fprintf(f, "%s%s%s%s %.17g\n", name, s->labels[0] ? "{" : "", s->labels,
			s->labels[0] ? "}" : "", s->value);
		return;
	}
	for (size_t i = 0; i < N_BUCKETS; i++)
		fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, s->labels, sep, buckets[i],
			s->in_bucket[i]);
	fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, s->labels, sep, s->count);
	fprintf(f, "%s_sum%s%s%s %.17g\n", name, s->labels[0] ? "{" : "", s->labels,
		s->labels[0] ? "}" : "", s->value);
	fprintf(f, "%s_count%s%s%s %llu\n", name, s->labels[0] ? "{" : "", s->labels,
		s->labels[0] ? "}" : "", s->count);
}

char *metrics_render(const struct metrics *m)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; i < m->n_families; i++) {
		struct collect c = { .family = &m->families[i] };

		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", c.family->name, c.family->help,
			c.family->name, types[c.family->type]);
		strmap_each(&m->series, collect_family, &c);
		if (c.n > 1)
			qsort(c.list, c.n, sizeof *c.list, by_labels);
		for (size_t j = 0; j < c.n; j++)
			render_series(f, c.list[j]);
		free(c.list);
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
