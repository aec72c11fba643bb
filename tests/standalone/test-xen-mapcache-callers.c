/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen mapcache: tests from the callers' side.
 *
 * A small model of how QEMU 9.2 uses the mapcache (system/physmem.c,
 * hw/i386/xen/xen-hvm.c, hw/xen/xen-hvm-common.c), each call sequence
 * made as QEMU makes it, and of the parties on the other side (the
 * granting guest and the kernel, played by the fake hypervisor; the block
 * RAM registrar, played by the notifier stubs).  Each test checks what the
 * caller relies on next, not what the mapcache says about itself:
 *
 * - RAM blocks: xen.ram, mapped per request, and other blocks (VRAM) whose
 *   whole range is pinned once as block->host at block->offset;
 *   qemu_get_ram_block() aborts on a ram_addr that is in no block;
 * - address_space_map()/address_space_unmap(): guest RAM, VRAM behind its
 *   framebuffer BAR, grant references at XEN_GRANT_ADDR_OFF, and MMIO,
 *   served from a bounce buffer; unmap asks xen_ram_addr_from_mapcache()
 *   first and takes an unknown pointer for a bounce buffer;
 * - incoming migration: the VRAM dummy, then xen_add_to_physmap()'s
 *   replace, which asserts that it returns block->host;
 * - the grant-DMA frontend (Linux's xen_grant_dma_unmap_page()): it ends
 *   foreign access right after the backend's unmap, and a failure
 *   disables the reference and breaks the device.
 *
 * Copyright (c) 2026 The xen-mapcache authors
 */

#include "qemu/osdep.h"
#include "qemu/coroutine.h"
#include "test-xen-mapcache.h"

#include <sys/resource.h>
#include <grp.h>

#define PAGE                FAKE_XEN_PAGE_SIZE
#define BUCKET              XEN_MAPCACHE_BUCKET_SIZE

/* Guest layout: ram_addr space and guest-physical space. */
#define GUEST_RAM_SIZE      (64 * MiB)          /* xen.ram, ram_addr 0 */
#define VRAM_OFFSET         (64 * MiB)          /* VRAM block's ram_addr */
#define VRAM_SIZE           (16 * MiB)
#define GRANTS_OFFSET       (VRAM_OFFSET + VRAM_SIZE)
#define GRANT_PAGES         64
#define FB_GADDR            0xf0000000ULL       /* the framebuffer BAR */
#define MMIO_GADDR          0xfe000000ULL       /* a device's registers */
#define XEN_GRANT_ADDR_OFF  (1ULL << 63)        /* as QEMU's */

#define MODEL_LIMIT         (32 * MiB)

/*
 * The model of QEMU's side
 */

/* A RAM block, as system/physmem.c keeps it. */
typedef struct ModelRAMBlock {
    const char *name;
    MemoryRegion *mr;
    ram_addr_t offset;
    ram_addr_t max_length;
    uint8_t *host;              /* pinned once, blocks but xen.ram/grants */
} ModelRAMBlock;

static ModelRAMBlock xen_ram = {
    "xen.ram", &xen_mapcache_test_ram_mr, 0, GUEST_RAM_SIZE,
};
static ModelRAMBlock vram = {
    "vga.vram", &xen_mapcache_test_other_mr, VRAM_OFFSET, VRAM_SIZE,
};
static ModelRAMBlock grants = {
    "xen.grants", &xen_mapcache_test_grants_mr, GRANTS_OFFSET,
    GRANT_PAGES * PAGE,
};
static ModelRAMBlock *const ram_blocks[] = { &xen_ram, &vram, &grants };

/* qemu_get_ram_block(): QEMU aborts with "Bad ram offset" on a miss. */
static ModelRAMBlock *model_get_ram_block(ram_addr_t addr)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(ram_blocks); i++) {
        if (addr - ram_blocks[i]->offset < ram_blocks[i]->max_length) {
            return ram_blocks[i];
        }
    }
    g_test_message("Bad ram offset %" PRIx64, (uint64_t)addr);
    g_assert_not_reached();
}

/*
 * qemu_ram_ptr_length(): xen.ram (and grants, xen_mr_is_memory()) map
 * each request; any other block pins its whole range once, at its
 * ram_addr, and serves pointers into it from then on.
 */
static void *model_ram_ptr_length(ModelRAMBlock *block, ram_addr_t addr,
                                  hwaddr *size, bool lock, bool is_write)
{
    hwaddr len = 0;

    if (size && *size == 0) {
        return NULL;
    }
    if (size) {
        *size = MIN(*size, block->max_length - addr);
        len = *size;
    }
    if (block->host == NULL) {
        if (xen_mr_is_memory(block->mr)) {
            return xen_map_cache(block->mr, block->offset + addr, len,
                                 block->offset, lock, lock, is_write);
        }
        block->host = xen_map_cache(block->mr, block->offset,
                                    block->max_length, block->offset,
                                    1, lock, is_write);
    }
    return block->host ? block->host + addr : NULL;
}

/* qemu_map_ram_ptr(): inside the caller's RCU read-side section. */
static void *model_map_ram_ptr(ModelRAMBlock *block, ram_addr_t addr)
{
    return model_ram_ptr_length(block, addr, NULL, false, true);
}

/* memory_region_get_ram_ptr() of a block's region, at offset 0. */
static void *model_get_ram_ptr(ModelRAMBlock *block)
{
    RCU_READ_LOCK_GUARD();
    return model_map_ram_ptr(block, 0);
}

/* reclaim_ramblock() of a block that was pinned whole. */
static void model_reclaim_ramblock(ModelRAMBlock *block)
{
    xen_invalidate_map_cache_entry(block->host);
    block->host = NULL;
}

/*
 * qemu_ram_block_from_host() under Xen: the reverse lookup, then the
 * block of that ram_addr (which aborts if there is none).
 */
static ModelRAMBlock *model_ram_block_from_host(void *ptr,
                                                ram_addr_t *offset)
{
    ModelRAMBlock *block;
    ram_addr_t ram_addr;

    RCU_READ_LOCK_GUARD();
    ram_addr = xen_ram_addr_from_mapcache(ptr);
    if (ram_addr == RAM_ADDR_INVALID) {
        return NULL;
    }
    block = model_get_ram_block(ram_addr);
    *offset = ram_addr - block->offset;
    return block;
}

/* What a guest-physical address translates to (flatview_translate()). */
typedef struct ModelSection {
    ModelRAMBlock *block;       /* NULL: MMIO, not directly accessible */
    hwaddr xlat;                /* offset in the block */
    hwaddr len;                 /* bytes left in the section */
} ModelSection;

static ModelSection model_translate(hwaddr addr)
{
    if (addr < GUEST_RAM_SIZE) {
        return (ModelSection) { &xen_ram, addr, GUEST_RAM_SIZE - addr };
    }
    if (addr - FB_GADDR < VRAM_SIZE) {
        return (ModelSection) { &vram, addr - FB_GADDR,
                                FB_GADDR + VRAM_SIZE - addr };
    }
    if (addr - XEN_GRANT_ADDR_OFF < grants.max_length) {
        return (ModelSection) { &grants, addr - XEN_GRANT_ADDR_OFF,
                                XEN_GRANT_ADDR_OFF + grants.max_length -
                                addr };
    }
    return (ModelSection) { NULL, 0, PAGE - (addr & (PAGE - 1)) };
}

/* address_space_map()'s bounce buffer for MMIO. */
#define BOUNCE_MAGIC 0xb0b0b0b0b0b0b0b0ULL

typedef struct ModelBounce {
    uint64_t magic;
    hwaddr addr;
    size_t len;
    uint8_t buffer[];
} ModelBounce;

/* The bounce buffers handed out: QEMU only checks a magic number. */
static GHashTable *bounce_buffers;

/*
 * address_space_map(): a pointer to guest memory, pinned (lock 1) until
 * address_space_unmap(); *@plen shrinks to what the section holds.
 */
static void *model_address_space_map(hwaddr addr, hwaddr *plen,
                                     bool is_write)
{
    ModelSection s;
    ModelBounce *bounce;

    if (*plen == 0) {
        return NULL;
    }
    RCU_READ_LOCK_GUARD();
    s = model_translate(addr);
    *plen = MIN(*plen, s.len);
    if (s.block) {
        return model_ram_ptr_length(s.block, s.xlat, plen, true, is_write);
    }
    bounce = g_malloc0(sizeof(*bounce) + *plen);
    *bounce = (ModelBounce) {
        .magic = BOUNCE_MAGIC, .addr = addr, .len = *plen,
    };
    g_hash_table_add(bounce_buffers, bounce->buffer);
    return bounce->buffer;
}

/*
 * address_space_unmap(): memory_region_from_host() asks the mapcache
 * which ram_addr @buffer is; a pointer it does not know must be a bounce
 * buffer (QEMU asserts its magic, reading before @buffer).
 */
static void model_address_space_unmap(void *buffer, hwaddr len,
                                      bool is_write, hwaddr access_len)
{
    ModelBounce *bounce;
    ram_addr_t offset;

    if (model_ram_block_from_host(buffer, &offset)) {
        xen_invalidate_map_cache_entry(buffer);
        return;
    }
    g_assert_true(g_hash_table_remove(bounce_buffers, buffer));
    bounce = (ModelBounce *)((uint8_t *)buffer -
                             offsetof(ModelBounce, buffer));
    g_assert_cmphex(bounce->magic, ==, BOUNCE_MAGIC);
    g_free(bounce);
}

/*
 * address_space_read()/write() (flatview_read/write_continue()): per
 * section, a lock0 pointer of the section's length inside one RCU
 * read-side section; MMIO is not modelled.
 */
static void model_address_space_rw(hwaddr addr, uint8_t *buf, hwaddr len,
                                   bool is_write)
{
    RCU_READ_LOCK_GUARD();
    while (len) {
        ModelSection s = model_translate(addr);
        hwaddr l = MIN(len, s.len);
        uint8_t *ptr;

        g_assert_nonnull(s.block);
        ptr = model_ram_ptr_length(s.block, s.xlat, &l, false, is_write);
        g_assert_nonnull(ptr);
        if (is_write) {
            memcpy(ptr, buf, l);
        } else {
            memcpy(buf, ptr, l);
        }
        addr += l;
        buf += l;
        len -= l;
    }
}

/* A MemoryRegionCache: address_space_cache_init()/_destroy(). */
typedef struct ModelRegionCache {
    uint8_t *ptr;
    hwaddr len;
} ModelRegionCache;

static void model_cache_init(ModelRegionCache *cache, hwaddr addr,
                             hwaddr len, bool is_write)
{
    ModelSection s;

    RCU_READ_LOCK_GUARD();
    s = model_translate(addr);
    cache->len = MIN(len, s.len);
    cache->ptr = s.block ? model_ram_ptr_length(s.block, s.xlat, &cache->len,
                                                true, is_write) : NULL;
}

/* QEMU invalidates cache->ptr even when it is NULL (MMIO). */
static void model_cache_destroy(ModelRegionCache *cache)
{
    xen_invalidate_map_cache_entry(cache->ptr);
    cache->ptr = NULL;
}

/*
 * xen_add_to_physmap() for the framebuffer in incoming migration: the
 * dummy made for the VRAM block gets the frames that the saved guest
 * already moved to the BAR; QEMU asserts that the pointer is block->host.
 */
static void model_add_to_physmap(ModelRAMBlock *block, hwaddr start_addr,
                                 ram_addr_t size)
{
    uint8_t *p;

    g_assert_true(runstate_check(RUN_STATE_INMIGRATE));
    p = xen_replace_cache_entry(block->offset, start_addr, size);
    g_assert_nonnull(p);
    g_assert_true(p == model_get_ram_ptr(block));
}

/*
 * Set up and tear down
 */

/*
 * The shared setup (test-xen-mapcache.h), with no RAM block mapped yet;
 * its guest RAM reaches the framebuffer (it is sparse).
 */
static void model_setup_with_limit(size_t limit)
{
    size_t i;

    QEMU_BUILD_BUG_ON(FB_GADDR + VRAM_SIZE > RAM_BYTES);
    QEMU_BUILD_BUG_ON(GRANT_PAGES > GRANT_FRAMES);
    for (i = 0; i < G_N_ELEMENTS(ram_blocks); i++) {
        ram_blocks[i]->host = NULL;
    }
    setup_with_limit(limit);
}

static void model_setup(void)
{
    model_setup_with_limit(MODEL_LIMIT);
}

/* The block RAM registrar saw only balanced calls so far. */
static void check_notify_errors(void)
{
    g_assert_cmpuint(notify_errors(), ==, 0);
}

/* And every registration removed. */
static void check_notify_balanced(void)
{
    XenMapCacheTestNotifyCheck check;

    check_notify_errors();
    xen_mapcache_test_notify_check(&check);
    g_assert_cmpuint(check.live, ==, 0);
}

/* The shared checks, and no bounce buffer left. */
static void model_teardown(void)
{
    g_assert_cmpuint(g_hash_table_size(bounce_buffers), ==, 0);
    teardown();
}

/* Guest-physical address of grant reference @ref, as QEMU lays it out. */
static hwaddr grant_gaddr(uint32_t ref)
{
    return XEN_GRANT_ADDR_OFF + (hwaddr)ref * PAGE;
}

/*
 * Grant DMA (a PV or virtio-grant backend)
 */

/*
 * A request's grants mapped with address_space_map(), the I/O done, the
 * buffer unmapped: the frontend ends foreign access at once
 * (xen_grant_dma_unmap_page()), with no grace period in between, and
 * must succeed, or Linux disables the reference and breaks the device.
 */
static void grant_dma(uint32_t ref, uint32_t pages, bool is_write)
{
    hwaddr len = pages * PAGE;
    ram_addr_t offset;
    uint8_t *p;
    uint32_t i;

    p = model_address_space_map(grant_gaddr(ref), &len, is_write);
    g_assert_nonnull(p);
    g_assert_cmpuint(len, ==, pages * PAGE);
    g_assert_cmpuint(fake_xen_check_grant(p, ref, len), ==, 0);
    if (is_write) {
        p[0] ^= 0xff;
    }

    /* memory_region_from_host() must find the grant region. */
    g_assert_true(model_ram_block_from_host(p, &offset) == &grants);
    g_assert_cmphex(offset, ==, (hwaddr)ref * PAGE);

    model_address_space_unmap(p, len, is_write, len);
    for (i = 0; i < pages; i++) {
        g_assert_true(fake_xen_end_foreign_access(ref + i));
        g_assert_true(fake_xen_grant_foreign_access(ref + i));
    }
}

static void test_grant_dma_end_access(void)
{
    model_setup();
    grant_dma(3, 1, true);
    grant_dma(3, 1, false);
    grant_dma(10, 4, true);
    grant_dma(20, 11, false);
    g_assert_cmpuint(fake_stats().end_access_failures, ==, 0);
    model_teardown();
}

typedef struct UnmapInCoroutine {
    void *p;
    hwaddr len;
    bool done;
} UnmapInCoroutine;

static void coroutine_fn unmap_in_coroutine(void *opaque)
{
    UnmapInCoroutine *data = opaque;

    model_address_space_unmap(data->p, data->len, true, data->len);
    data->done = true;
}

/*
 * The same from a DMA completion in a coroutine: once it has returned,
 * access ends; the notifier did not run in the coroutine.
 */
static void test_grant_dma_end_access_coroutine(void)
{
    UnmapInCoroutine data = { .len = 2 * PAGE };
    Coroutine *co;
    int i;

    model_setup();
    data.p = model_address_space_map(grant_gaddr(7), &data.len, true);
    g_assert_nonnull(data.p);
    co = qemu_coroutine_create(unmap_in_coroutine, &data);
    qemu_coroutine_enter(co);
    for (i = 0; i < 100 && !data.done; i++) {
        aio_poll(qemu_get_aio_context(), false);
    }
    g_assert_true(data.done);
    g_assert_true(fake_xen_end_foreign_access(7));
    g_assert_true(fake_xen_end_foreign_access(8));
    check_notify_errors();
    model_teardown();
}

/*
 * A grant mapping is announced to the RAM block notifiers while the I/O
 * uses it (a blkio backend registers the buffer), and the registration
 * ends when the buffer is unmapped.
 */
static void test_grant_dma_notify(void)
{
    hwaddr len = 3 * PAGE;
    uint8_t *p;

    model_setup();
    p = model_address_space_map(grant_gaddr(5), &len, true);
    g_assert_nonnull(p);
    g_assert_true(xen_mapcache_test_notify_is_live(p, len));
    model_address_space_unmap(p, len, true, len);
    g_assert_false(xen_mapcache_test_notify_is_live(p, 1));
    check_notify_errors();
    model_teardown();
}

/*
 * A grant pinned by two requests stays mapped and registered until the
 * last unmap, then goes at once.
 */
static void test_grant_last_unpin(void)
{
    hwaddr len1 = PAGE, len2 = PAGE;
    uint8_t *p1, *p2;

    model_setup();
    p1 = model_address_space_map(grant_gaddr(9), &len1, false);
    p2 = model_address_space_map(grant_gaddr(9), &len2, false);
    g_assert_nonnull(p1);
    g_assert_nonnull(p2);
    model_address_space_unmap(p1, len1, false, len1);
    g_assert_cmpuint(fake_xen_check_grant(p2, 9, PAGE), ==, 0);
    g_assert_true(xen_mapcache_test_notify_is_live(p2, PAGE));
    g_assert_cmpuint(fake_xen_grant_mappings(9), >=, 1);

    model_address_space_unmap(p2, len2, false, len2);
    g_assert_cmpuint(fake_xen_grant_mappings(9), ==, 0);
    g_assert_false(xen_mapcache_test_notify_is_live(p2, 1));
    g_assert_true(fake_xen_end_foreign_access(9));
    check_notify_errors();
    model_teardown();
}

/*
 * VRAM
 */

/* The guest's VRAM frames: at its ram_addr until moved to the BAR. */
static void check_vram_shows(hwaddr frames_gaddr)
{
    static const hwaddr offsets[] = {
        0, PAGE - 1, BUCKET + 123, VRAM_SIZE - 64,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(offsets); i++) {
        g_assert_cmpuint(fake_xen_check_ram(vram.host + offsets[i],
                                            frames_gaddr + offsets[i], 64),
                         ==, 0);
    }
}

/*
 * Incoming migration: the VRAM block's frames are no longer at its
 * ram_addr (the saved guest moved them to the framebuffer BAR), so the
 * device model's first pointer (vga_common_init()) is a dummy, which
 * xen_add_to_physmap() replaces with the BAR's frames.  From then on the
 * block must work as any other: pointers into block->host show the
 * framebuffer, qemu_ram_block_from_host(block->host) finds the block at
 * offset 0 (not at the BAR's address, which is in no RAM block), and
 * reclaiming the block drops its pin.
 */
static void test_vram_migration_replace(void)
{
    ram_addr_t offset = ~0;
    uint8_t *host;

    model_setup();
    xen_mapcache_test_set_runstate(RUN_STATE_INMIGRATE);
    fake_xen_set_hole(VRAM_OFFSET / PAGE, VRAM_SIZE / PAGE, true);

    host = model_get_ram_ptr(&vram);
    g_assert_nonnull(host);
    g_assert_true(host == vram.host);
    g_assert_false(xen_mapcache_test_notify_is_live(host, 1));

    model_add_to_physmap(&vram, FB_GADDR, VRAM_SIZE);
    xen_mapcache_test_set_runstate(RUN_STATE_RUNNING);
    check_vram_shows(FB_GADDR);

    g_assert_true(model_ram_block_from_host(vram.host, &offset) == &vram);
    g_assert_cmphex(offset, ==, 0);

    g_assert_cmpuint(cache_stats(XEN_MAPCACHE_RAM).pinned_entries, ==, 1);
    model_reclaim_ramblock(&vram);
    g_assert_cmpuint(cache_stats(XEN_MAPCACHE_RAM).pinned_entries, ==, 0);
    check_notify_errors();
    model_teardown();
}

/*
 * A RAM block larger than the cache limit (VRAM of 16 MiB under an
 * 8 MiB limit) is still pinned whole: qemu_ram_ptr_length() stores the
 * answer in block->host, and NULL there makes every later pointer into
 * the block NULL + offset.
 */
static void test_oversize_block_pinned_whole(void)
{
    model_setup_with_limit(8 * MiB);
    g_assert_nonnull(model_get_ram_ptr(&vram));
    check_vram_shows(VRAM_OFFSET);
    g_assert_cmpuint(cache_stats(XEN_MAPCACHE_RAM).oversize, >=, 1);
    model_reclaim_ramblock(&vram);
    model_teardown();
}

/*
 * DMA larger than the cache limit: address_space_map() returning NULL
 * makes dma_blk_io() wait for a map client that is notified at once, a
 * loop that never completes the request.
 */
static void test_oversize_dma(void)
{
    hwaddr gaddr = BUCKET + 512, len = 12 * MiB;
    uint8_t *p;

    model_setup_with_limit(8 * MiB);
    p = model_address_space_map(gaddr, &len, true);
    g_assert_nonnull(p);
    g_assert_cmpuint(len, ==, 12 * MiB);
    g_assert_cmpuint(fake_xen_check_ram(p, gaddr, len), ==, 0);
    g_assert_cmpuint(cache_stats(XEN_MAPCACHE_RAM).oversize, >=, 1);
    model_address_space_unmap(p, len, true, len);
    model_teardown();
}

/*
 * RAM block notifiers, from the registrar's side
 */

/*
 * Guest RAM mappings made for lock0 and DMA requests are registered
 * while a caller may use them, and unregistered exactly once whether
 * they leave by eviction, by the flush or at teardown.
 */
static void test_notify_guest_ram(void)
{
    uint8_t *dma[4];
    hwaddr len;
    int i;

    model_setup_with_limit(4 * BUCKET);
    for (i = 0; i < 4; i++) {
        len = 4 * KiB;
        dma[i] = model_address_space_map(i * BUCKET + 100, &len, true);
        g_assert_nonnull(dma[i]);
        g_assert_true(xen_mapcache_test_notify_is_live(dma[i], len));
    }
    for (i = 0; i < 4; i++) {
        model_address_space_unmap(dma[i], len, true, len);
    }
    /* Past the limit: the older entries are evicted. */
    for (i = 8; i < 16; i++) {
        RCU_READ_LOCK_GUARD();
        uint8_t *p = model_map_ram_ptr(&xen_ram, i * BUCKET);

        g_assert_true(xen_mapcache_test_notify_is_live(p, PAGE));
    }
    drain_call_rcu();
    g_assert_cmpuint(cache_stats(XEN_MAPCACHE_RAM).evictions, >, 0);
    check_notify_errors();

    xen_invalidate_map_cache();
    drain_call_rcu();
    check_notify_balanced();

    for (i = 20; i < 22; i++) {
        RCU_READ_LOCK_GUARD();
        g_assert_nonnull(model_map_ram_ptr(&xen_ram, i * BUCKET));
    }
    model_teardown();
}

/*
 * A dummy never replaced is never announced, so never removed.  (The
 * foreign mapping tried first, whose pages are all holes, may be: it is
 * a mapping of the guest like any other.  It is freed when the dummy is
 * made, never having been handed out, and the dummy may get its
 * addresses: an add and a remove at @p are then that mapping's pair.)
 */
static void test_notify_dummy_never_replaced(void)
{
    hwaddr len = 8 * KiB;
    uint8_t *p;

    model_setup();
    xen_mapcache_test_set_runstate(RUN_STATE_INMIGRATE);
    fake_xen_set_hole(40 * BUCKET / PAGE, BUCKET / PAGE, true);
    p = model_address_space_map(40 * BUCKET, &len, true);
    g_assert_nonnull(p);
    g_assert_false(xen_mapcache_test_notify_is_live(p, 1));
    model_address_space_unmap(p, len, true, len);
    xen_invalidate_map_cache();
    model_teardown();
    g_assert_cmpuint(xen_mapcache_test_notify_count(0, true, p, 0), <=, 1);
    g_assert_cmpuint(xen_mapcache_test_notify_count(0, true, p, 0), ==,
                     xen_mapcache_test_notify_count(0, false, p, 0));
}

/*
 * A replaced dummy is announced at the replace, with the size it maps,
 * and removed once when it is released.
 */
static void test_notify_dummy_replaced(void)
{
    XenMapCacheTestNotifyCheck made;
    uint8_t *host;

    model_setup();
    xen_mapcache_test_set_runstate(RUN_STATE_INMIGRATE);
    fake_xen_set_hole(VRAM_OFFSET / PAGE, VRAM_SIZE / PAGE, true);
    g_assert_nonnull(model_get_ram_ptr(&vram));
    g_assert_false(xen_mapcache_test_notify_is_live(vram.host, 1));
    /*
     * From here on: the all-holes foreign mapping tried before the dummy
     * was announced and removed, and the dummy may have its addresses.
     */
    xen_mapcache_test_notify_check(&made);
    model_add_to_physmap(&vram, FB_GADDR, VRAM_SIZE);
    g_assert_true(xen_mapcache_test_notify_is_live(vram.host, VRAM_SIZE));
    g_assert_cmpuint(xen_mapcache_test_notify_count(made.events, true,
                                                    vram.host, VRAM_SIZE),
                     ==, 1);
    host = vram.host;
    model_teardown();
    g_assert_cmpuint(xen_mapcache_test_notify_count(made.events, false,
                                                    host, VRAM_SIZE), ==, 1);
}

/*
 * xen.ram, request by request
 */

/*
 * qemu_map_ram_ptr() (lock 0, size 0) inside rcu_read_lock(): a pointer
 * to the guest's bytes, good for the rest of its page.
 */
static void test_xen_ram_map_ram_ptr(void)
{
    static const hwaddr addrs[] = {
        0, 0x1234, BUCKET - 8, 5 * BUCKET + PAGE, GUEST_RAM_SIZE - PAGE,
    };
    size_t i;

    model_setup();
    for (i = 0; i < G_N_ELEMENTS(addrs); i++) {
        RCU_READ_LOCK_GUARD();
        uint8_t *p = model_map_ram_ptr(&xen_ram, addrs[i]);
        size_t len = PAGE - (addrs[i] & (PAGE - 1));

        g_assert_nonnull(p);
        g_assert_cmpuint(fake_xen_check_ram(p, addrs[i], len), ==, 0);
    }
    model_teardown();
}

/*
 * address_space_read/write(): one lock0 request per section, whatever
 * its length (across bucket boundaries too); the bytes reach the guest.
 */
static void test_xen_ram_rw(void)
{
    static const struct {
        hwaddr addr, len;
    } io[] = {
        { 0x100, 16 }, { BUCKET - 100, 200 }, { 3 * BUCKET - PAGE, 3 * PAGE },
        { 7 * BUCKET + 5, 2 * BUCKET },
    };
    size_t i;

    model_setup();
    for (i = 0; i < G_N_ELEMENTS(io); i++) {
        g_autofree uint8_t *buf = g_malloc(io[i].len);

        model_address_space_rw(io[i].addr, buf, io[i].len, false);
        g_assert_cmpuint(fake_xen_check_ram(buf, io[i].addr, io[i].len),
                         ==, 0);
        memset(buf, 0xa5 + i, io[i].len);
        model_address_space_rw(io[i].addr, buf, io[i].len, true);
        g_assert_cmpuint(fake_xen_check_ram(buf, io[i].addr, io[i].len),
                         ==, 0);
    }
    model_teardown();
}

/*
 * Other behaviour callers rely on
 */

/*
 * address_space_unmap() of a bounce buffer: the mapcache does not know
 * the pointer (RAM_ADDR_INVALID), so QEMU takes it for a bounce buffer.
 */
static void test_bounce_buffer_unknown(void)
{
    hwaddr len = 64;
    uint8_t *p;

    model_setup();
    p = model_address_space_map(MMIO_GADDR, &len, false);
    g_assert_nonnull(p);
    g_assert_cmphex(xen_ram_addr_from_mapcache(p), ==, RAM_ADDR_INVALID);
    model_address_space_unmap(p, len, false, len);
    g_assert_cmpuint(cache_stats(XEN_MAPCACHE_RAM).lookups_lock1, ==, 0);
    model_teardown();
}

/*
 * Two DMA requests at one address get the same pointer: the first unmap
 * must leave the second's pin, and its reverse lookup, in place.
 */
static void test_dma_same_pointer_twice(void)
{
    hwaddr gaddr = 2 * BUCKET + 0x200, len1 = 512, len2 = 512;
    ram_addr_t offset;
    uint8_t *p1, *p2;

    model_setup();
    p1 = model_address_space_map(gaddr, &len1, true);
    p2 = model_address_space_map(gaddr, &len2, false);
    g_assert_true(p1 == p2);
    model_address_space_unmap(p1, len1, true, len1);
    g_assert_true(model_ram_block_from_host(p2, &offset) == &xen_ram);
    g_assert_cmphex(offset, ==, gaddr);
    g_assert_cmpuint(cache_stats(XEN_MAPCACHE_RAM).pinned_entries, ==, 1);
    model_address_space_unmap(p2, len2, false, len2);
    g_assert_cmpuint(cache_stats(XEN_MAPCACHE_RAM).pinned_entries, ==, 0);
    model_teardown();
}

/*
 * The guest's invalidate ioreq (xen_invalidate_map_cache(), ballooning)
 * arrives while DMA is in flight: the buffers stay valid and their
 * unmaps still find them.
 */
static void test_flush_keeps_dma(void)
{
    hwaddr gaddr = 6 * BUCKET + 0x10, len = 64 * KiB;
    uint8_t *p;

    model_setup();
    p = model_address_space_map(gaddr, &len, true);
    g_assert_nonnull(p);
    xen_invalidate_map_cache();
    drain_call_rcu();
    g_assert_true(fake_xen_is_live(p, len));
    g_assert_cmpuint(fake_xen_check_ram(p, gaddr, len), ==, 0);
    model_address_space_unmap(p, len, true, len);
    g_assert_cmpuint(cache_stats(XEN_MAPCACHE_RAM).pinned_entries, ==, 0);
    model_teardown();
}

/*
 * A MemoryRegionCache (virtio rings) pins its range from init to
 * destroy; destroying one over MMIO invalidates NULL, which is no-op.
 */
static void test_region_cache(void)
{
    ModelRegionCache ring, mmio;

    model_setup();
    model_cache_init(&ring, 9 * BUCKET + 0x40, 4 * KiB, true);
    g_assert_nonnull(ring.ptr);
    g_assert_cmpuint(ring.len, ==, 4 * KiB);
    g_assert_cmpuint(fake_xen_check_ram(ring.ptr, 9 * BUCKET + 0x40,
                                        ring.len), ==, 0);
    g_assert_cmpuint(cache_stats(XEN_MAPCACHE_RAM).pinned_entries, ==, 1);

    model_cache_init(&mmio, MMIO_GADDR, 64, false);
    g_assert_null(mmio.ptr);
    model_cache_destroy(&mmio);
    g_assert_cmpuint(cache_stats(XEN_MAPCACHE_RAM).pinned_entries, ==, 1);

    model_cache_destroy(&ring);
    g_assert_cmpuint(cache_stats(XEN_MAPCACHE_RAM).pinned_entries, ==, 0);
    model_teardown();
}

/*
 * A RAM block pinned whole at boot (VRAM, frames at its ram_addr):
 * qemu_ram_block_from_host(block->host) finds it, and reclaiming it
 * drops the pin.
 */
static void test_vram_boot(void)
{
    ram_addr_t offset = ~0;

    model_setup();
    g_assert_nonnull(model_get_ram_ptr(&vram));
    check_vram_shows(VRAM_OFFSET);
    g_assert_true(model_ram_block_from_host(vram.host, &offset) == &vram);
    g_assert_cmphex(offset, ==, 0);
    g_assert_true(xen_mapcache_test_notify_is_live(vram.host, VRAM_SIZE));
    model_reclaim_ramblock(&vram);
    g_assert_cmpuint(cache_stats(XEN_MAPCACHE_RAM).pinned_entries, ==, 0);
    model_teardown();
}

/*
 * xen_map_cache_init() under RLIMIT_AS
 */

/* The address space this process uses now (VmSize), in bytes. */
static uint64_t address_space_in_use(void)
{
    g_autofree char *status = NULL;
    const char *line;

    g_assert_true(g_file_get_contents("/proc/self/status", &status, NULL,
                                      NULL));
    line = strstr(status, "\nVmSize:");
    g_assert_nonnull(line);
    return g_ascii_strtoull(line + strlen("\nVmSize:"), NULL, 10) * KiB;
}

/*
 * Can this build run under a low RLIMIT_AS?  AddressSanitizer and
 * ThreadSanitizer reserve terabytes of shadow memory up front and their
 * allocators fail under one: skip, saying why.
 */
static bool rlimit_as_testable(void)
{
#if defined(QEMU_SANITIZE_ADDRESS)
    g_test_skip("AddressSanitizer's shadow memory cannot live under a "
                "low RLIMIT_AS");
    return false;
#elif defined(QEMU_SANITIZE_THREAD)
    g_test_skip("ThreadSanitizer's shadow memory cannot live under a "
                "low RLIMIT_AS");
    return false;
#else
    return true;
#endif
}

/*
 * In a g_test_trap_subprocess() child (a fresh process: liburcu's
 * threads do not survive a bare fork()): set a hard and soft RLIMIT_AS
 * of @limit bytes, then, when running as root (whose
 * xen_map_cache_init() lifts RLIMIT_AS), become the unprivileged user
 * nobody (uid and gid 65534).
 */
static void become_unprivileged_under_rlimit_as(rlim_t limit)
{
    struct rlimit rl = { .rlim_cur = limit, .rlim_max = limit };

    g_assert_cmpint(setrlimit(RLIMIT_AS, &rl), ==, 0);
    if (geteuid() == 0) {
        g_assert_cmpint(setgroups(0, NULL), ==, 0);
        g_assert_cmpint(setgid(65534), ==, 0);
        g_assert_cmpint(setuid(65534), ==, 0);
    }
    g_assert_cmpint(geteuid(), !=, 0);
}

/* The reserve QEMU leaves to itself under a finite RLIMIT_AS. */
#define NON_MCACHE_MEMORY_SIZE (80 * MiB)

/*
 * A hard RLIMIT_AS that leaves less than one bucket above the reserve
 * would give a cache that maps nothing: init refuses it, naming the
 * limit and the minimum, and exits.
 */
static void test_init_refuses_small_rlimit(void)
{
    rlim_t limit = NON_MCACHE_MEMORY_SIZE + BUCKET / 2;
    g_autofree char *limit_text = NULL;
    g_autofree char *minimum_text = NULL;

    if (!rlimit_as_testable()) {
        return;
    }
    if (g_test_subprocess()) {
        bql_lock();
        fake_xen_init(GUEST_RAM_SIZE, 0);
        become_unprivileged_under_rlimit_as(limit);
        xen_map_cache_init(NULL, NULL);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    /* The hard limit, in bytes, and what it must be at least. */
    limit_text = g_strdup_printf("*%" PRIu64 "*", (uint64_t)limit);
    minimum_text = g_strdup_printf("*%" PRIu64 "*",
                                   (uint64_t)(NON_MCACHE_MEMORY_SIZE +
                                              BUCKET));
    g_test_trap_assert_stderr(limit_text);
    g_test_trap_assert_stderr(minimum_text);
}

/*
 * Under a hard RLIMIT_AS the cache takes the hard limit less the 80 MiB
 * reserve, and a run of lock0 misses past that limit (each in its own
 * read section, a grace period every 32) is served: no NULL, no exit.
 * The child takes the reserve for itself first (PROT_NONE filler up to
 * the reserve less RLIMIT_SLACK), as a QEMU process does: the cache's
 * ranges, live and pending release, then have the rest and no more.
 */
#define RLIMIT_CACHE_SIZE   (128 * MiB)
#define RLIMIT_MISSES       (RLIMIT_CACHE_SIZE / BUCKET + 48)
#define RLIMIT_SLACK        (4 * MiB)   /* for malloc() while it runs */

static void free_rcu_head(struct rcu_head *head)
{
    g_free(head);
}

/* Start the RCU thread (and map its stack) now, not under the limit. */
static void start_rcu_thread(void)
{
    call_rcu1(g_new0(struct rcu_head, 1), free_rcu_head);
    drain_call_rcu();
}

/* Map PROT_NONE filler so that the process uses @target bytes. */
static void fill_address_space_to(uint64_t target)
{
    uint64_t used = address_space_in_use();
    void *filler;

    if (used >= target) {
        return;
    }
    filler = mmap(NULL, target - used, PROT_NONE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    g_assert_true(filler != MAP_FAILED);
}

static void test_init_limit_from_rlimit(void)
{
    rlim_t limit = NON_MCACHE_MEMORY_SIZE + RLIMIT_CACHE_SIZE;
    uint64_t i;

    if (!rlimit_as_testable()) {
        return;
    }
    if (g_test_subprocess()) {
        bql_lock();
        fake_xen_init(RLIMIT_MISSES * BUCKET, 0);
        start_rcu_thread();
        become_unprivileged_under_rlimit_as(limit);
        xen_map_cache_init(NULL, NULL);
        g_assert_cmpuint(cache_stats(XEN_MAPCACHE_RAM).limit_bytes, ==,
                         RLIMIT_CACHE_SIZE);
        fill_address_space_to(NON_MCACHE_MEMORY_SIZE - RLIMIT_SLACK);
        for (i = 0; i < RLIMIT_MISSES; i++) {
            WITH_RCU_READ_LOCK_GUARD() {
                /* qemu_map_ram_ptr() in a guest larger than xen_ram's. */
                uint8_t *p = xen_map_cache(&xen_mapcache_test_ram_mr,
                                           i * BUCKET, 0, 0, 0, false, true);

                g_assert_nonnull(p);
                g_assert_cmpuint(fake_xen_check_ram(p, i * BUCKET, 64), ==,
                                 0);
            }
            if (i % 32 == 31) {
                drain_call_rcu();
            }
        }
        bql_unlock();
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
}

/*
 * As root, init lifts RLIMIT_AS and takes the cap (32 GiB on 64-bit
 * hosts).  The child lowers only the soft limit: raising a hard limit
 * needs CAP_SYS_RESOURCE, which containers often drop.
 */
static void test_init_root_cap(void)
{
    struct rlimit rl;

    if (geteuid() != 0) {
        g_test_skip("needs root: xen_map_cache_init() lifts RLIMIT_AS "
                    "only as root");
        return;
    }
    if (!rlimit_as_testable()) {
        return;
    }
    g_assert_cmpint(getrlimit(RLIMIT_AS, &rl), ==, 0);
    if (rl.rlim_max != RLIM_INFINITY) {
        g_test_skip("the hard RLIMIT_AS is finite here, and cannot be "
                    "lifted without CAP_SYS_RESOURCE");
        return;
    }
    if (g_test_subprocess()) {
        bql_lock();
        rl.rlim_cur = 16 * GiB;
        fake_xen_init(GUEST_RAM_SIZE, 0);
        g_assert_cmpint(setrlimit(RLIMIT_AS, &rl), ==, 0);
        xen_map_cache_init(NULL, NULL);
        g_assert_cmpuint(cache_stats(XEN_MAPCACHE_RAM).limit_bytes, ==,
                         XEN_MAPCACHE_MAX_SIZE);
        g_assert_cmpint(getrlimit(RLIMIT_AS, &rl), ==, 0);
        g_assert_true(rl.rlim_cur == RLIM_INFINITY);
        g_assert_true(rl.rlim_max == RLIM_INFINITY);
        bql_unlock();
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
}

/*
 * Registration
 */

typedef struct CallersTest {
    const char *path;
    GTestFunc fn;
} CallersTest;

static const CallersTest tests[] = {
    { "grant-dma/end-access-at-once", test_grant_dma_end_access },
    { "grant-dma/end-access-from-coroutine",
      test_grant_dma_end_access_coroutine },
    { "grant-dma/notify", test_grant_dma_notify },
    { "grant-dma/last-unpin", test_grant_last_unpin },
    { "vram/migration-replace", test_vram_migration_replace },
    { "vram/boot", test_vram_boot },
    { "oversize/block-pinned-whole", test_oversize_block_pinned_whole },
    { "oversize/dma", test_oversize_dma },
    { "notify/guest-ram", test_notify_guest_ram },
    { "notify/dummy-never-replaced", test_notify_dummy_never_replaced },
    { "notify/dummy-replaced", test_notify_dummy_replaced },
    { "xen-ram/map-ram-ptr", test_xen_ram_map_ram_ptr },
    { "xen-ram/rw", test_xen_ram_rw },
    { "bounce/unknown-pointer", test_bounce_buffer_unknown },
    { "dma/same-pointer-twice", test_dma_same_pointer_twice },
    { "flush/keeps-dma", test_flush_keeps_dma },
    { "region-cache/pin-and-destroy", test_region_cache },
    { "init/refuses-small-rlimit", test_init_refuses_small_rlimit },
    { "init/limit-from-rlimit", test_init_limit_from_rlimit },
    { "init/root-cap", test_init_root_cap },
};

int main(int argc, char **argv)
{
    size_t i;

    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    bounce_buffers = g_hash_table_new(g_direct_hash, g_direct_equal);

    for (i = 0; i < G_N_ELEMENTS(tests); i++) {
        g_autofree char *path = g_strdup_printf("/xen-mapcache/callers/%s",
                                                tests[i].path);

        g_test_add_func(path, tests[i].fn);
    }
    return g_test_run();
}
