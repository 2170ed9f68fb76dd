/*
 * mount_ns.h -- a private mount namespace in which a child of a test
 * bind-mounts files over the machine's own (/etc/services,
 * /etc/nsswitch.conf) without changing anything outside it; for the
 * suites that run glibc on generated files (test_parity, test_nss) and
 * that give libportq a configuration of their own (test_fork). Needs
 * root (CAP_SYS_ADMIN). These report on `report`, not through Check: they
 * run in an exec'd child that is no Check test.
 */
#ifndef PORTQ_TESTS_MOUNT_NS_H
#define PORTQ_TESTS_MOUNT_NS_H

#include <stdio.h>

/*
 * Move this process into a mount namespace of its own and make / private
 * in it, so that no mount propagates back. 0, or -1 after a line "ERROR
 * ..." on report (`who` names the test in the hint that it needs root).
 */
int mount_ns_enter(FILE *report, const char *who);

/* Bind-mount `src` over `dst` and check that `dst` now is `src`. 0, or
 * -1 after a line "ERROR ..." on report. */
int mount_ns_bind(const char *src, const char *dst, FILE *report);

/*
 * Put `src` at `dst` (a file) in this namespace: bind-mounted over it
 * when dst exists; when it does not (a test may not create files in the
 * machine's /etc), the folder holding dst first gets an overlay whose
 * writable layer is a tmpfs private to this namespace, dst is made in
 * it, and src is bind-mounted over that. The overlay shows the folder's
 * own files, not what was mounted over them before it: call this before
 * binding anything else in that folder. Nothing changes outside the
 * namespace. 0, or -1 after a line "ERROR ..." on report.
 */
int mount_ns_place(const char *src, const char *dst, FILE *report);

#endif /* PORTQ_TESTS_MOUNT_NS_H */
