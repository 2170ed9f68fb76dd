/*
 * fuzz_config.c -- the config file parser.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	FILE *f = fmemopen((void *)(uintptr_t)data, size, "r");
	FILE *err = fopen("/dev/null", "w");
	if (f == NULL || err == NULL)
		abort();
	config_t c;
	config_init(&c);
	if (config_load_stream(&c, f, "fuzz.conf", err) == 0)
		(void)config_validate(&c, err);
	config_free(&c);
	fclose(f);
	fclose(err);
	return 0;
}
