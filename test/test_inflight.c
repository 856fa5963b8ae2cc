/* test_inflight: the packet-id table against a plain array, through random
 * puts and takes over the whole id space (growth, wrap-around, backward
 * shifts after removals). */
#include <stdio.h>
#include <stdlib.h>

#include "bus/inflight.h"
#include "test/check.h"

static void done(void *arg, int mid, int reason)
{
	(void)arg;
	(void)mid;
	(void)reason;
}

static void against_an_array(void)
{
	static void *expect[65536];
	struct inflight_table t = { 0 };
	struct inflight_slot s;
	unsigned seed = 7;
	size_t live = 0;
	int bad = 0;

	for (int step = 0; step < 400000; step++) {
		int mid = 1 + (int)(rand_r(&seed) % 3000);	/* collisions and reuse */
		void *arg = (void *)(size_t)(step + 1);

		if (rand_r(&seed) % 3) {
			live += expect[mid] == NULL;
			expect[mid] = arg;
			REQUIRE(inflight_put(&t, mid, done, arg) == 0);
		} else {
			bool had = inflight_take(&t, mid, &s);

			bad += had != (expect[mid] != NULL) || (had && s.arg != expect[mid]);
			live -= expect[mid] != NULL;
			expect[mid] = NULL;
		}
	}
	CHECK_INT(bad, 0);
	CHECK_INT((int)t.used, (int)live);
	for (int mid = 1; mid < 65536; mid++) {
		bool had = inflight_take(&t, mid, &s);

		bad += had != (expect[mid] != NULL);
	}
	CHECK_INT(bad, 0);
	CHECK_INT((int)t.used, 0);
	inflight_free(&t);
}

int main(void)
{
	RUN(against_an_array);
	return check_summary();
}
