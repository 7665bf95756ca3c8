// Minimal N-API addon: one AF_PACKET socket bound to one interface, with a classic BPF filter
// attached before the socket is bound (so no unfiltered frame is ever queued), polled by libuv
// (uv_poll, no busy polling), plus send and IPv6 multicast group membership.
// Frames are received through a TPACKET_V2 ring (PACKET_RX_RING, mmap'd frames with a status each):
// the kernel hands each frame over as it is written and wakes us, so a lone request is read at once
// (a V3 ring hands over whole blocks, a lone frame only when its block timer retires it, up to 1 ms
// and more later). A flood must not cost a wake-up per frame: a wake-up less than BURST_GAP_MS after
// the previous read switches to reading every DEFER_MS from a timer (a batch of what arrived
// meanwhile) until a tick finds nothing, then back to waking per frame; no system call per frame.
// The ring is fixed at open (its size the caller's bound), and what does not fit is dropped by the
// kernel and counted (PACKET_STATISTICS).
// Node has no AF_PACKET sockets and libuv cannot wrap one as a stream or UDP handle, hence this file.
#include "../../native/polled_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

// Receive ring slots are sized by the caller (the interface MTU plus headers, at least MIN_SLOT),
// so a frame as long as the link carries (jumbo frames) is read whole; a longer one is cut to the
// slot (and then fails to decode, as it should).
#define MIN_SLOT 2048
#define MAX_SLOT 65536

// The kernel ring: blocks of BLOCK_SIZE, as many as fit in the caller's ring bytes (MIN_BLOCKS at
// least), of RING_FRAME-byte frames (its header, the link-layer address, then 190 bytes of the frame:
// every ARP and NS/NA we expect, and 8,192 of them in 2 MiB, where slot-sized frames would fit 960).
// A longer frame is cut there, and the kernel also queues it whole on the socket (PACKET_COPY_THRESH,
// bounded by SO_RCVBUF), marking its ring frame TP_STATUS_COPY: we read that copy instead.
#define RING_FRAME 256
#define BLOCK_SIZE (64 * 1024)
#define MIN_BLOCKS 4
#define MAX_RING_BYTES (64u * 1024 * 1024)
// Frames closer than this to the previous read are a burst: read them in batches every DEFER_MS.
#define BURST_GAP_MS 1
#define DEFER_MS 1

typedef struct {
  polled_socket base;  // first: a rawsock* is a polled_socket*
  int group_fd;        // AF_INET6 datagram socket holding multicast memberships, -1 until needed
  int ifindex;
  unsigned char* ring;  // slots of `slot` bytes; frame i at i * slot
  uint32_t slot;
  uint32_t* lengths;    // after the slots: the length of each frame of the batch
  uint32_t slots;
  unsigned char* map;   // the kernel's TPACKET_V2 ring, mmap'd
  size_t map_len;
  uint32_t block_size;
  uint32_t frame_size;
  uint32_t per_block;   // frames in a block (frames never straddle blocks)
  uint32_t frame_nr;
  uint32_t frame;       // the frame read next (the kernel fills them in order)
  uv_timer_t* timer;    // batches a burst; its own allocation, freed by its close (outlives nothing)
  int deferred;         // polling stopped, the timer reads
  uint64_t last_read;   // uv_hrtime() of the previous read
} rawsock;

static void free_timer(uv_handle_t* h) { free(h); }

static void release_groups(polled_socket* base) {
  rawsock* s = (rawsock*)base;
  if (s->group_fd >= 0) close(s->group_fd);  // drops every membership it held
  s->group_fd = -1;
  if (s->map != NULL) munmap(s->map, s->map_len);
  s->map = NULL;
  if (s->timer != NULL) {
    uv_timer_stop(s->timer);
    s->timer->data = NULL;
    uv_close((uv_handle_t*)s->timer, free_timer);
    s->timer = NULL;
  }
}

static struct tpacket2_hdr* frame_at(rawsock* s, uint32_t i) {
  return (struct tpacket2_hdr*)(s->map + (size_t)(i / s->per_block) * s->block_size + (size_t)(i % s->per_block) * s->frame_size);
}

// Copies up to one JS ring's worth of frames out of the kernel's ring (each frame goes back to the
// kernel as soon as it is copied), then calls onFrames(count, err) once: the JS side reads the frames
// synchronously from its ring. Frames left when the JS ring is full wait for the next readable event
// (the socket stays readable while the last frame written is ours).
static uint32_t read_batch(rawsock* s, int status) {
  uint32_t n = 0;
  int err = 0;
  while (n < s->slots) {
    struct tpacket2_hdr* f = frame_at(s, s->frame);
    if ((__atomic_load_n(&f->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) break;
    const struct sockaddr_ll* from = (const struct sockaddr_ll*)((unsigned char*)f + TPACKET_ALIGN(sizeof(struct tpacket2_hdr)));
    // Our own transmissions are looped back to packet sockets; kernels before 4.20 ignore
    // PACKET_IGNORE_OUTGOING, so check here as well. A frame longer than the slot is cut to it.
    unsigned char* dst = s->ring + (size_t)n * s->slot;
    uint32_t len = f->tp_snaplen < s->slot ? f->tp_snaplen : s->slot;
    int whole = 0;
    if (f->tp_status & TP_STATUS_COPY) {
      // The whole frame waits on the socket's queue, in ring order; take it even if we skip it.
      ssize_t r = recv(s->base.fd, dst, s->slot, MSG_DONTWAIT);
      if (r > 0) {
        len = (uint32_t)r;
        whole = 1;
      }
    }
    if (from->sll_pkttype != PACKET_OUTGOING) {
      if (!whole) memcpy(dst, (unsigned char*)f + f->tp_mac, len);
      s->lengths[n++] = len;
    }
    __atomic_store_n(&f->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    s->frame = (s->frame + 1) % s->frame_nr;
  }
  if (status < 0 || n == 0) {
    // An error on the socket (the interface went away: libuv reports POLLERR as UV_EBADF and stops
    // polling). SO_ERROR says which, and reading it clears it, so the poll never spins on it.
    socklen_t len = sizeof err;
    if (getsockopt(s->base.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err == 0 && status < 0) err = -status;
    if (n == 0 && err == 0) return 0;
  }
  deliver_batch(s->base.env, s->base.async, s->base.callback, n, err);
  return n;
}

static void on_readable(uv_poll_t* h, int status, int events);

// A timer tick while deferred: read what arrived since; nothing means the burst is over, so wake
// per frame again.
static void on_deferred(uv_timer_t* t) {
  rawsock* s = (rawsock*)t->data;
  if (s == NULL || !s->base.open) return;
  s->last_read = uv_hrtime();
  uint32_t n = read_batch(s, 0);
  if (!s->base.open || s->timer == NULL) return;  // closed by the callback
  if (n > 0) {
    // A full JS ring leaves frames behind: read on at the loop's next turn (other I/O first).
    uv_timer_start(s->timer, on_deferred, n == s->slots ? 0 : DEFER_MS, 0);
  } else {
    s->deferred = 0;
    uv_poll_start(&s->base.poll, UV_READABLE, on_readable);
  }
}

static void on_readable(uv_poll_t* h, int status, int events) {
  rawsock* s = (rawsock*)h->data;
  if (s == NULL || !s->base.open) return;
  uint64_t now = uv_hrtime();
  int burst = now - s->last_read < (uint64_t)BURST_GAP_MS * 1000000;
  s->last_read = now;
  uint32_t n = read_batch(s, status);
  if (!s->base.open || s->timer == NULL || status < 0) return;  // closed by the callback, or failed
  if (n > 0 && burst && !s->deferred) {
    s->deferred = 1;
    uv_poll_stop(&s->base.poll);
    uv_timer_start(s->timer, on_deferred, n == s->slots ? 0 : DEFER_MS, 0);
  }
}

static rawsock* get_sock(napi_env env, napi_value v) { return (rawsock*)polled_get(env, v, "packet socket"); }

// open(ifname: string, filter: Buffer (struct sock_filter[]), ring: Buffer (n * (slot + 4) bytes),
//      slot: number (multiple of 4, MIN_SLOT..MAX_SLOT), onFrames: (count: number, err?: Error) => void,
//      kernelRingBytes: number): External
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char ifname[IF_NAMESIZE + 1];
  size_t iflen = 0;
  if (argc < 6 || napi_get_value_string_utf8(env, argv[0], ifname, sizeof ifname, &iflen) != napi_ok || iflen == 0 ||
      iflen >= IF_NAMESIZE) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "open(ifname, filter, ring, slot, onFrames, kernelRingBytes): bad interface name");
    return NULL;
  }
  void* fdata = NULL;
  size_t flen = 0;
  bool is_buf = false;
  napi_is_buffer(env, argv[1], &is_buf);
  if (!is_buf || napi_get_buffer_info(env, argv[1], &fdata, &flen) != napi_ok || flen == 0 ||
      flen % sizeof(struct sock_filter) != 0 || flen / sizeof(struct sock_filter) > BPF_MAXINSNS) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "open: filter must be a non-empty array of 8-byte BPF instructions");
    return NULL;
  }
  uint32_t slot = 0;
  if (napi_get_value_uint32(env, argv[3], &slot) != napi_ok || slot < MIN_SLOT || slot > MAX_SLOT || slot % 4 != 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "open: slot must be a multiple of 4 from 2048 to 65536");
    return NULL;
  }
  void* ring = NULL;
  size_t ringlen = 0;
  napi_is_buffer(env, argv[2], &is_buf);
  if (!is_buf || napi_get_buffer_info(env, argv[2], &ring, &ringlen) != napi_ok || ringlen < slot + 4 ||
      ringlen % (slot + 4) != 0 || ((uintptr_t)ring % 4) != 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "open: ring must be a 4-byte aligned Buffer of n * (slot + 4) bytes");
    return NULL;
  }
  napi_valuetype t;
  napi_typeof(env, argv[4], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "open: onFrames must be a function");
    return NULL;
  }
  uint32_t ring_bytes = 0;
  if (napi_get_value_uint32(env, argv[5], &ring_bytes) != napi_ok || ring_bytes == 0 || ring_bytes > MAX_RING_BYTES) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "open: kernelRingBytes must be from 1 to 64 MiB");
    return NULL;
  }
  uint32_t frame_size = RING_FRAME;
  uint32_t block_size = BLOCK_SIZE;
  uint32_t block_nr = ring_bytes / block_size < MIN_BLOCKS ? MIN_BLOCKS : ring_bytes / block_size;
  unsigned int ifindex = if_nametoindex(ifname);
  if (ifindex == 0) return throw_errno(env, "if_nametoindex", errno == 0 ? ENODEV : errno);

  // Protocol 0: the socket receives nothing until bound with a protocol, after the filter is on.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
  struct sock_fprog prog = {.len = (unsigned short)(flen / sizeof(struct sock_filter)), .filter = (struct sock_filter*)fdata};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "setsockopt(SO_ATTACH_FILTER)", e);
  }
  int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);  // best effort (Linux >= 4.20)
  if (setsockopt(fd, SOL_PACKET, PACKET_COPY_THRESH, &one, sizeof one) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "setsockopt(PACKET_COPY_THRESH)", e);
  }
  int version = TPACKET_V2;
  struct tpacket_req req;
  memset(&req, 0, sizeof req);
  req.tp_block_size = block_size;
  req.tp_block_nr = block_nr;
  req.tp_frame_size = frame_size;
  req.tp_frame_nr = (block_size / frame_size) * block_nr;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0 ||
      setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "setsockopt(PACKET_RX_RING)", e);
  }
  size_t map_len = (size_t)block_size * block_nr;
  unsigned char* map = (unsigned char*)mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    int e = errno;
    close(fd);
    return throw_errno(env, "mmap(PACKET_RX_RING)", e);
  }
  struct sockaddr_ll addr;
  memset(&addr, 0, sizeof addr);
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = (int)ifindex;
  if (bind(fd, (struct sockaddr*)&addr, sizeof addr) < 0) {
    int e = errno;
    munmap(map, map_len);
    close(fd);
    return throw_errno(env, "bind(AF_PACKET)", e);
  }

  rawsock* s = (rawsock*)polled_new(env, sizeof(rawsock), fd, "packet socket");
  if (s == NULL) {
    munmap(map, map_len);
    return NULL;
  }
  s->group_fd = -1;
  s->map = map;
  s->map_len = map_len;
  s->block_size = block_size;
  s->frame_size = frame_size;
  s->per_block = block_size / frame_size;
  s->frame_nr = req.tp_frame_nr;
  s->ifindex = (int)ifindex;
  s->base.release = release_groups;
  if (!polled_receive(env, &s->base, argv[2], argv[4], "herald.PacketSocket")) {
    munmap(map, map_len);  // the socket is gone, its release never ran
    return NULL;
  }
  s->slot = slot;
  s->slots = (uint32_t)(ringlen / (slot + 4));
  s->ring = (unsigned char*)ring;
  s->lengths = (uint32_t*)((unsigned char*)ring + (size_t)s->slots * slot);
  uv_loop_t* loop;
  s->timer = (uv_timer_t*)malloc(sizeof(uv_timer_t));
  if (s->timer == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_timer_init(loop, s->timer) != 0) {
    free(s->timer);  // never initialised: nothing to close
    s->timer = NULL;
  } else {
    s->timer->data = s;
  }
  return polled_wrap(env, &s->base, on_readable);
}

// send(handle, frame: Buffer): number — bytes sent, or -errno for EAGAIN/ENOBUFS (queue full: caller counts a drop).
static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "send(handle, frame)");
    return NULL;
  }
  rawsock* s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  void* data;
  size_t len;
  bool is_buf = false;
  napi_is_buffer(env, argv[1], &is_buf);
  if (!is_buf || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "send: frame must be a Buffer");
    return NULL;
  }
  ssize_t n;
  do n = send(s->base.fd, data, len, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) return throw_errno(env, "send(AF_PACKET)", errno);
  napi_value result;
  CHECK(napi_create_int32(env, n < 0 ? -errno : (int32_t)n, &result));
  return result;
}

static napi_value membership(napi_env env, napi_callback_info info, int join) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "joinGroup/leaveGroup(handle, group)");
    return NULL;
  }
  rawsock* s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  void* data;
  size_t len;
  bool is_buf = false;
  napi_is_buffer(env, argv[1], &is_buf);
  if (!is_buf || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || len != 16) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "group must be a 16-byte IPv6 address");
    return NULL;
  }
  if (s->group_fd < 0) {
    // An IPv6 socket's membership makes the kernel program the NIC's multicast filter and answer
    // MLD queries, so MLD-snooping switches keep forwarding the solicitations to us.
    s->group_fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s->group_fd < 0) return throw_errno(env, "socket(AF_INET6)", errno);
  }
  struct ipv6_mreq mreq;
  memcpy(&mreq.ipv6mr_multiaddr, data, 16);
  mreq.ipv6mr_interface = (unsigned int)s->ifindex;
  if (setsockopt(s->group_fd, IPPROTO_IPV6, join ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &mreq, sizeof mreq) < 0)
    return throw_errno(env, join ? "setsockopt(IPV6_ADD_MEMBERSHIP)" : "setsockopt(IPV6_DROP_MEMBERSHIP)", errno);
  return NULL;
}

static napi_value JoinGroup(napi_env env, napi_callback_info info) { return membership(env, info, 1); }
static napi_value LeaveGroup(napi_env env, napi_callback_info info) { return membership(env, info, 0); }

// stats(handle): { packets, drops } since the last call (PACKET_STATISTICS resets on read).
static napi_value Stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "stats(handle)");
    return NULL;
  }
  rawsock* s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  struct tpacket_stats st;
  socklen_t sl = sizeof st;
  if (getsockopt(s->base.fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) < 0) return throw_errno(env, "getsockopt(PACKET_STATISTICS)", errno);
  napi_value obj, v;
  CHECK(napi_create_object(env, &obj));
  CHECK(napi_create_uint32(env, st.tp_packets, &v));
  CHECK(napi_set_named_property(env, obj, "packets", v));
  CHECK(napi_create_uint32(env, st.tp_drops, &v));
  CHECK(napi_set_named_property(env, obj, "drops", v));
  return obj;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, Open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, Send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"joinGroup", NULL, JoinGroup, NULL, NULL, NULL, napi_enumerable, NULL},
      {"leaveGroup", NULL, LeaveGroup, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, Stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, polled_close_call, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
