/* secret: reading secret files. Also compiled into the broker plugin, which
 * links nothing else of agentbus. */
#include "util/secret.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int secret_read(const char *path, unsigned char *buf, size_t cap, size_t *len, char *why,
		size_t whylen)
{
	FILE *f = fopen(path, "rb");
	size_t n;
	int rc;

	if (!f) {
		snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, cap - 1, f);
	rc = ferror(f) || !feof(f) ? -1 : 0;
	fclose(f);
	if (rc != 0) {
		snprintf(why, whylen, "%s is unreadable or over %zu bytes", path, cap - 1);
		memset(buf, 0, cap);
		return -1;
	}
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (n == 0) {
		snprintf(why, whylen, "%s is empty", path);
		return -1;
	}
	*len = n;
	return 0;
}

bool secret_equal(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	unsigned char d = na != nb;

	for (size_t i = 0; i < na && i < nb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}
