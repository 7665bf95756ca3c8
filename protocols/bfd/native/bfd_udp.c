// Minimal N-API addon: UDP sockets for BFD (RFC 5881/5883) that report the received TTL / hop
// limit and destination address of every datagram (recvmsg with IP_RECVTTL/IPV6_RECVHOPLIMIT and
// IP_PKTINFO/IPV6_RECVPKTINFO), and send with TTL 255 from a chosen source address (sendmsg with
// a PKTINFO control message). Node's dgram exposes neither, and Linux ignores IP_MINTTL /
// IPV6_MINHOPCOUNT for UDP (checked on 6.18 in a namespace), so GTSM (RFC 5082) is done here.
#define _GNU_SOURCE
#include "../../native/polled_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

// Receive slot: a BFD control packet is at most 52 bytes; a longer datagram is cut and reported
// with its full length (the JS side drops it).
#define SLOT 128
// Per-slot metadata after the slots: len, ttl, port, family (uint32 each), source[16], destination[16].
#define META 48

typedef struct {
  polled_socket base;  // first: a udpsock* is a polled_socket*
  int family;          // AF_INET or AF_INET6
  unsigned char* ring;
  unsigned char* meta;
  uint32_t slots;
} udpsock;

// Reads up to one ring's worth of datagrams with their TTL and addresses, then calls
// onPackets(count, err) once; the JS side reads them synchronously from the ring.
static void on_readable(uv_poll_t* h, int status, int events) {
  udpsock* s = (udpsock*)h->data;
  if (s == NULL || !s->base.open) return;
  uint32_t n = 0;
  int err = 0;
  while (n < s->slots) {
    struct sockaddr_storage from;
    struct iovec iov = {.iov_base = s->ring + (size_t)n * SLOT, .iov_len = SLOT};
    union {
      char buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo)) + 64];
      struct cmsghdr align;
    } control;
    struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.buf, .msg_controllen = sizeof control.buf};
    ssize_t len = recvmsg(s->base.fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
    if (len < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
    unsigned char* m = s->meta + (size_t)n * META;
    uint32_t ttl = 0xffffffffu;  // unknown: the JS side treats it as failing the check
    memset(m + 16, 0, 32);
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
      if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) || (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)) {
        int v;
        memcpy(&v, CMSG_DATA(c), sizeof v);
        ttl = (uint32_t)v;
      } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        struct in_pktinfo pi;
        memcpy(&pi, CMSG_DATA(c), sizeof pi);
        memcpy(m + 32, &pi.ipi_addr, 4);
      } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
        struct in6_pktinfo pi;
        memcpy(&pi, CMSG_DATA(c), sizeof pi);
        memcpy(m + 32, &pi.ipi6_addr, 16);
      }
    }
    uint32_t port = 0, family = 0;
    if (from.ss_family == AF_INET) {
      struct sockaddr_in* a = (struct sockaddr_in*)&from;
      memcpy(m + 16, &a->sin_addr, 4);
      port = ntohs(a->sin_port);
      family = 4;
    } else if (from.ss_family == AF_INET6) {
      struct sockaddr_in6* a = (struct sockaddr_in6*)&from;
      memcpy(m + 16, &a->sin6_addr, 16);
      port = ntohs(a->sin6_port);
      family = 6;
    }
    uint32_t fields[4] = {(uint32_t)len, ttl, port, family};
    memcpy(m, fields, sizeof fields);
    n++;
  }
  if (n == 0 && err == 0) return;
  deliver_batch(s->base.env, s->base.async, s->base.callback, n, err);
}

static udpsock* get_sock(napi_env env, napi_value v) { return (udpsock*)polled_get(env, v, "BFD socket"); }

// Fills a sockaddr from a numeric address (empty: the wildcard) and port; 0 when unparsable.
static socklen_t make_addr(int family, const char* text, int port, struct sockaddr_storage* ss) {
  memset(ss, 0, sizeof *ss);
  if (family == AF_INET) {
    struct sockaddr_in* a = (struct sockaddr_in*)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (text[0] != '\0' && inet_pton(AF_INET, text, &a->sin_addr) != 1) return 0;
    return sizeof *a;
  }
  struct sockaddr_in6* a = (struct sockaddr_in6*)ss;
  a->sin6_family = AF_INET6;
  a->sin6_port = htons((uint16_t)port);
  if (text[0] != '\0' && inet_pton(AF_INET6, text, &a->sin6_addr) != 1) return 0;
  return sizeof *a;
}

// open(family: 4|6, address: string ('' = any), portMin, portMax, ring: Buffer | null,
//      onPackets: ((count, err?) => void) | null): External
// Binds to the first free port in portMin..portMax starting at a random one (portMin == portMax: that port).
// With a ring and callback, received datagrams are read into the ring; without, the socket only sends.
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "open(family, address, portMin, portMax, ring, onPackets)");
    return NULL;
  }
  int32_t fam = 0, pmin = 0, pmax = 0;
  CHECK(napi_get_value_int32(env, argv[0], &fam));
  char addr[INET6_ADDRSTRLEN + 1];
  size_t alen = 0;
  if (napi_get_value_string_utf8(env, argv[1], addr, sizeof addr, &alen) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "address must be a string");
    return NULL;
  }
  CHECK(napi_get_value_int32(env, argv[2], &pmin));
  CHECK(napi_get_value_int32(env, argv[3], &pmax));
  if ((fam != 4 && fam != 6) || pmin < 1 || pmax > 65535 || pmin > pmax) {
    napi_throw_range_error(env, "ERR_INVALID_ARG", "family must be 4 or 6 and 1 <= portMin <= portMax <= 65535");
    return NULL;
  }
  napi_valuetype rt, ct;
  napi_typeof(env, argv[4], &rt);
  napi_typeof(env, argv[5], &ct);
  int receiving = rt != napi_null && rt != napi_undefined;
  void* ring = NULL;
  size_t ringlen = 0;
  if (receiving) {
    bool is_buf = false;
    napi_is_buffer(env, argv[4], &is_buf);
    if (!is_buf || napi_get_buffer_info(env, argv[4], &ring, &ringlen) != napi_ok || ringlen < SLOT + META ||
        ringlen % (SLOT + META) != 0 || ((uintptr_t)ring % 4) != 0 || ct != napi_function) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "open: ring must be a 4-byte aligned Buffer of n * 176 bytes, with a callback");
      return NULL;
    }
  }
  int af = fam == 4 ? AF_INET : AF_INET6;
  int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1, ttl = 255;
  int ok = 1;
  if (af == AF_INET) {
    ok &= setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl) == 0;
    ok &= setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof one) == 0;
    ok &= setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) == 0;
  } else {
    ok &= setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0;
    ok &= setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof ttl) == 0;
    ok &= setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof one) == 0;
    ok &= setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) == 0;
  }
  // Source addresses the kernel would not pick itself (other local addresses) are still allowed as pktinfo sources.
  if (!ok) {
    int e = errno;
    close(fd);
    return throw_errno(env, "setsockopt(TTL/PKTINFO)", e);
  }
  if (receiving) {
    int rcvbuf = 8 * 1024 * 1024;  // ~2 s of 1,000 sessions at 300 ms: a stalled event loop loses no packet
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  int span = pmax - pmin + 1;
  int start = span > 1 ? (int)((((unsigned)getpid() * 2654435761u) ^ (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&span) % (unsigned)span) : 0;
  int bound = 0, last = 0;
  for (int i = 0; i < span && !bound; i++) {
    struct sockaddr_storage ss;
    socklen_t sl = make_addr(af, addr, pmin + (start + i) % span, &ss);
    if (sl == 0) {
      close(fd);
      napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "address is not a numeric address of the family");
      return NULL;
    }
    if (bind(fd, (struct sockaddr*)&ss, sl) == 0) bound = 1;
    else {
      last = errno;
      if (last != EADDRINUSE) break;
    }
  }
  if (!bound) {
    close(fd);
    return throw_errno(env, "bind", last);
  }
  udpsock* s = (udpsock*)polled_new(env, sizeof(udpsock), fd, "BFD socket");
  if (s == NULL) return NULL;
  s->family = af;
  if (receiving) {
    if (!polled_receive(env, &s->base, argv[4], argv[5], "herald.BfdSocket")) return NULL;
    s->slots = (uint32_t)(ringlen / (SLOT + META));
    s->ring = (unsigned char*)ring;
    s->meta = (unsigned char*)ring + (size_t)s->slots * SLOT;
  }
  return polled_wrap(env, &s->base, on_readable);
}

// localPort(handle): the bound port.
static napi_value LocalPort(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  udpsock* s = argc < 1 ? NULL : get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(s->base.fd, (struct sockaddr*)&ss, &sl) < 0) return throw_errno(env, "getsockname", errno);
  int port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in*)&ss)->sin_port) : ntohs(((struct sockaddr_in6*)&ss)->sin6_port);
  napi_value out;
  CHECK(napi_create_int32(env, port, &out));
  return out;
}

// send(handle, data: Buffer, length, destination: Buffer(4|16), port, source: Buffer(4|16) | null): bytes sent, or
// -errno for transient failures (queue full, no route, ICMP-reported refusal): the caller counts them.
static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "send(handle, data, length, destination, port, source)");
    return NULL;
  }
  udpsock* s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  void *data, *dst, *src = NULL;
  size_t dlen, dstlen, srclen = 0;
  int32_t length = 0, port = 0;
  CHECK(napi_get_buffer_info(env, argv[1], &data, &dlen));
  CHECK(napi_get_value_int32(env, argv[2], &length));
  CHECK(napi_get_buffer_info(env, argv[3], &dst, &dstlen));
  CHECK(napi_get_value_int32(env, argv[4], &port));
  napi_valuetype st;
  napi_typeof(env, argv[5], &st);
  if (st != napi_null && st != napi_undefined) CHECK(napi_get_buffer_info(env, argv[5], &src, &srclen));
  size_t need = s->family == AF_INET ? 4 : 16;
  if (length < 0 || (size_t)length > dlen || dstlen < need || (src != NULL && srclen < need) || port < 1 || port > 65535) {
    napi_throw_range_error(env, "ERR_INVALID_ARG", "send: bad length, address buffer or port");
    return NULL;
  }
  struct sockaddr_storage to;
  memset(&to, 0, sizeof to);
  socklen_t tolen;
  union {
    char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct iovec iov = {.iov_base = data, .iov_len = (size_t)length};
  struct msghdr msg = {.msg_name = &to, .msg_iov = &iov, .msg_iovlen = 1};
  if (s->family == AF_INET) {
    struct sockaddr_in* a = (struct sockaddr_in*)&to;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    memcpy(&a->sin_addr, dst, 4);
    tolen = sizeof *a;
    if (src != NULL) {
      msg.msg_control = control.buf;
      msg.msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
      struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
      struct in_pktinfo pi;
      memset(&pi, 0, sizeof pi);
      memcpy(&pi.ipi_spec_dst, src, 4);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
    }
  } else {
    struct sockaddr_in6* a = (struct sockaddr_in6*)&to;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    memcpy(&a->sin6_addr, dst, 16);
    tolen = sizeof *a;
    if (src != NULL) {
      msg.msg_control = control.buf;
      msg.msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));
      struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
      struct in6_pktinfo pi;
      memset(&pi, 0, sizeof pi);
      memcpy(&pi.ipi6_addr, src, 16);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
    }
  }
  msg.msg_namelen = tolen;
  ssize_t n;
  do n = sendmsg(s->base.fd, &msg, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  int e = errno;
  if (n < 0 && e != EAGAIN && e != EWOULDBLOCK && e != ENOBUFS && e != ENETUNREACH && e != EHOSTUNREACH && e != ECONNREFUSED &&
      e != ENETDOWN && e != EADDRNOTAVAIL && e != EPERM)
    return throw_errno(env, "sendmsg", e);
  napi_value result;
  CHECK(napi_create_int32(env, n < 0 ? -e : (int32_t)n, &result));
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, Open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"localPort", NULL, LocalPort, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, Send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, polled_close_call, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
