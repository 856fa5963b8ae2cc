/* bus/topics: building topic names from the configured root. */
#include "bus/topics.h"

#include <stdio.h>
#include <stdlib.h>

char *topic_status(const char *root, const char *instance)
{
	char *t;

	return asprintf(&t, "%s/agentbus/status/%s", root, instance) < 0 ? NULL : t;
}
