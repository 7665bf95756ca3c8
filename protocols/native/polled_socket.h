// The life of a socket that libuv polls for an addon (BFD's UDP sockets, the AF_PACKET socket): the
// descriptor, the JS callback and receive ring kept alive by references while open, and the order of
// close() and the External's finalizer (whichever comes last frees, and never before uv_close is done).
// An addon's socket struct starts with a polled_socket, so one pointer serves both.
#ifndef HERALD_POLLED_SOCKET_H
#define HERALD_POLLED_SOCKET_H

#include "napi_addon.h"
#include <uv.h>

#include <stdlib.h>
#include <unistd.h>

typedef struct polled_socket polled_socket;
struct polled_socket {
  int fd;
  int polling;    // uv_poll initialised
  int open;       // 1 until close()
  int finalized;  // the JS External is gone
  int closing;    // uv_close called, waiting for polled_on_closed
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_ref ring_ref;  // keeps the JS-owned receive ring alive
  napi_async_context async;
  void (*release)(polled_socket* s);  // closes what the addon holds besides fd; may be NULL
  const char* what;                   // "packet socket", "BFD socket": for error messages
};

static void polled_free_if_done(polled_socket* s) {
  if (s->finalized && (!s->closing || s->poll.data == NULL)) free(s);
}

static void polled_on_closed(uv_handle_t* h) {
  polled_socket* s = (polled_socket*)h->data;
  s->poll.data = NULL;  // marks the close as complete
  if (s->finalized) free(s);
}

static void polled_close(napi_env env, polled_socket* s) {
  if (!s->open) return;
  s->open = 0;
  if (s->polling) {
    uv_poll_stop(&s->poll);
    s->closing = 1;
    uv_close((uv_handle_t*)&s->poll, polled_on_closed);
  }
  close(s->fd);
  s->fd = -1;
  if (s->release) s->release(s);
  if (s->callback) napi_delete_reference(env, s->callback);
  s->callback = NULL;
  if (s->ring_ref) napi_delete_reference(env, s->ring_ref);
  s->ring_ref = NULL;
  if (s->async) napi_async_destroy(env, s->async);
  s->async = NULL;
}

static void polled_finalize(napi_env env, void* data, void* hint) {
  polled_socket* s = (polled_socket*)data;
  polled_close(env, s);
  s->finalized = 1;
  polled_free_if_done(s);
}

// A new socket of `size` bytes (the addon's struct) around an open descriptor; on failure the
// descriptor is closed and a JS error is pending.
static polled_socket* polled_new(napi_env env, size_t size, int fd, const char* what) {
  polled_socket* s = (polled_socket*)calloc(1, size);
  if (s == NULL) {
    close(fd);
    throw_errno(env, "calloc", ENOMEM);
    return NULL;
  }
  s->fd = fd;
  s->open = 1;
  s->env = env;
  s->what = what;
  return s;
}

// Prepares polling with the JS callback and ring (not started until polled_wrap). On failure the
// socket is gone (descriptor closed, memory freed) and a JS error is pending: returns 0.
static int polled_receive(napi_env env, polled_socket* s, napi_value ring, napi_value callback, const char* resource) {
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &s->poll, s->fd) != 0) {
    close(s->fd);
    free(s);
    napi_throw_error(env, "ERR_UV", "uv_poll_init failed");
    return 0;
  }
  s->polling = 1;
  s->poll.data = s;
  napi_value resource_name;
  napi_create_reference(env, callback, 1, &s->callback);
  napi_create_reference(env, ring, 1, &s->ring_ref);
  napi_create_string_utf8(env, resource, NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &s->async);
  return 1;
}

// The JS handle of `s` (an External whose finalizer frees it); starts polling if prepared.
static napi_value polled_wrap(napi_env env, polled_socket* s, uv_poll_cb on_readable) {
  napi_value result;
  if (napi_create_external(env, s, polled_finalize, NULL, &result) != napi_ok) {
    s->finalized = 1;
    polled_close(env, s);
    polled_free_if_done(s);
    napi_throw_error(env, "ERR_NAPI", "napi_create_external failed");
    return NULL;
  }
  if (s->polling) uv_poll_start(&s->poll, UV_READABLE, on_readable);
  return result;
}

// The open socket behind a JS handle, or NULL with a JS error pending.
static polled_socket* polled_get(napi_env env, napi_value v, const char* what) {
  void* data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    char msg[96];
    snprintf(msg, sizeof msg, "expected a %s handle", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return NULL;
  }
  polled_socket* s = (polled_socket*)data;
  if (!s->open) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s is closed", s->what);
    napi_throw_error(env, "EBADF", msg);
    return NULL;
  }
  return s;
}

// close(handle): idempotent.
static napi_value polled_close_call(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void* data = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "close(handle)");
    return NULL;
  }
  polled_close(env, (polled_socket*)data);
  return NULL;
}

#endif
