/*
 * admin: the operator's subcommands of fieldsync-server, run beside a live server (SQLite
 * WAL): `enroll` (issue a one-time enrolment code, also as a QR code), `devices` (list, with
 * the delivery gap per device), `revoke` (one device, by id, unique id prefix or name).
 */
#ifndef FS_ADMIN_H
#define FS_ADMIN_H

/* argv[0] is the subcommand name. Returns the process exit status. */
int admin_main(int argc, char **argv);
/* 1 if name is an admin subcommand. */
int admin_is_command(const char *name);

#endif
