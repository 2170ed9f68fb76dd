/*
 * nss_probe.c -- what loading the NSS module brings into a process, for
 * test_nss (module_loads_no_libuv). A program of its own because every
 * test suite links libportq or the server, and so libuv, already.
 *
 *   nss_probe MODULE
 *
 * dlopen()s MODULE as glibc does (RTLD_NOW | RTLD_LOCAL), then prints one
 * line per object now in the process, "LOADED PATH" (dl_iterate_phdr),
 * and one per DT_NEEDED entry of the module, "NEEDED NAME". Exit 0, or 2
 * with "ERROR ..." when the module cannot be loaded.
 */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

static int
print_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	printf("LOADED %s\n", info->dlpi_name[0] != '\0' ? info->dlpi_name : "(main)");
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: nss_probe MODULE\n");
		return 2;
	}
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		printf("ERROR dlopen %s: %s\n", argv[1], dlerror());
		return 2;
	}
	dl_iterate_phdr(print_object, NULL);
	struct link_map *map = NULL;
	if (dlinfo(h, RTLD_DI_LINKMAP, &map) != 0 || map == NULL) {
		printf("ERROR dlinfo: %s\n", dlerror());
		return 2;
	}
	/* The dynamic section: DT_STRTAB is an address once loaded. */
	const char *strtab = NULL;
	for (const ElfW(Dyn) *d = map->l_ld; d->d_tag != DT_NULL; d++)
		if (d->d_tag == DT_STRTAB)
			strtab = (const char *)d->d_un.d_ptr;
	for (const ElfW(Dyn) *d = map->l_ld; strtab != NULL && d->d_tag != DT_NULL; d++)
		if (d->d_tag == DT_NEEDED)
			printf("NEEDED %s\n", strtab + d->d_un.d_val);
	return fflush(stdout) == 0 ? 0 : 2;
}
