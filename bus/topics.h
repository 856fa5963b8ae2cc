/* bus/topics: the topic names of CONTRACT.md section 1, in one place. */
#ifndef AB_BUS_TOPICS_H
#define AB_BUS_TOPICS_H

/* Each returns a malloc'd topic the caller frees, or NULL when out of memory. */
char *topic_status(const char *root, const char *instance);	/* R/agentbus/status/<instance> */

#endif
