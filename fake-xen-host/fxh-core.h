/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The simulated Xen host's core (libfakexenhost.so): one HVM domain and
 * everything the seven fake Xen libraries answer from.  The libraries
 * are thin: each function of theirs calls one of these.  All state sits
 * behind one lock, taken inside these functions; none of them may be
 * called with it held.
 */

#ifndef FXH_CORE_H
#define FXH_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/hvm/ioreq.h>

#define FXH_MAX_VCPUS   16

typedef struct FxhEvtchn FxhEvtchn;
typedef struct FxhXs FxhXs;

/* Start the host once, from any library's open function. */
void fxh_init(void);

/* A non-NULL handle for the libraries whose handles hold nothing. */
void *fxh_dummy_handle(void);
void fxh_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The host's counters, in FxhStat order (fxh-protocol.h) */
void fxh_stats_get(uint64_t stats[]);

/* Guest RAM: foreign mappings, the p2m */
void *fxh_foreign_map(void *addr, int prot, int flags, size_t num,
                      const xen_pfn_t gfns[], int err[]);
int fxh_foreign_unmap(void *addr, size_t num);
int fxh_populate(uint64_t gfn, uint64_t count, bool by_qemu);
int fxh_relocate(uint64_t src_gfn, uint64_t dst_gfn, uint64_t count);
uint64_t fxh_special_gfn(void);

/* The ioreq server */
int fxh_ioreq_server_create(uint16_t *id);
int fxh_ioreq_server_info(uint32_t *bufioreq_port);
void *fxh_ioreq_pages_map(void *addr, unsigned long frame,
                          unsigned long nr_frames, int prot, int flags);
int fxh_ioreq_pages_unmap(void *addr, unsigned long nr_frames);

/* Interrupts: level 1 counts an event the guest side can wait for */
void fxh_irq_level(const char *what, unsigned int line, unsigned int level);
void fxh_msi(uint64_t addr, uint32_t data);

/* Event channels */
FxhEvtchn *fxh_evtchn_open(void);
void fxh_evtchn_close(FxhEvtchn *h);
int fxh_evtchn_fd(FxhEvtchn *h);
int fxh_evtchn_bind(FxhEvtchn *h, uint32_t remote_port);
int fxh_evtchn_unbind(FxhEvtchn *h, uint32_t port);
int fxh_evtchn_pending(FxhEvtchn *h);
int fxh_evtchn_unmask(FxhEvtchn *h, uint32_t port);
int fxh_evtchn_notify(FxhEvtchn *h, uint32_t port);

/* Xenstore */
FxhXs *fxh_xs_open(void);
void fxh_xs_close(FxhXs *h);
int fxh_xs_fileno(FxhXs *h);
char *fxh_xs_read(FxhXs *h, const char *path, unsigned int *len);
bool fxh_xs_write(FxhXs *h, const char *path, const void *data,
                  unsigned int len);
bool fxh_xs_mkdir(FxhXs *h, const char *path);
bool fxh_xs_rm(FxhXs *h, const char *path);
char **fxh_xs_directory(FxhXs *h, const char *path, unsigned int *num);
bool fxh_xs_watch(FxhXs *h, const char *path, const char *token);
bool fxh_xs_unwatch(FxhXs *h, const char *path, const char *token);
char **fxh_xs_read_watch(FxhXs *h, unsigned int *num, bool block);

#endif /* FXH_CORE_H */
