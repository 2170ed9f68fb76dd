/*
 * error.c -- texts for the portq error codes.
 */
#include "error.h"

PORTQ_EXPORT const char *
portq_strerror(int err)
{
	switch (err) {
#define PORTQ_ERROR_CASE(name, value, text) case (value): return (text);
	PORTQ_ERROR_MAP(PORTQ_ERROR_CASE)
#undef PORTQ_ERROR_CASE
	}
	return "unknown error";
}
