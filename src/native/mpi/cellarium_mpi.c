/* cellarium-ts MPI addon: the few MPI calls data-parallel training needs (src/train/mpi-group.ts),
 * on the memory of the caller's typed arrays. Built only where an MPI (mpicc) is installed
 * (scripts/build-native.mjs); without it the rest of cellarium-ts works and an MPI launch is refused.
 *
 * Every collective is started non-blocking and completed by polling with a deadline, so that a rank
 * that never arrives (killed, stuck) ends the wait with an error instead of a hang; the caller then
 * aborts the job, since an unfinished collective cannot be cancelled. Errors are returned, not fatal
 * (MPI_ERRORS_RETURN), and thrown as JavaScript errors naming the call and MPI's message. */
#define NAPI_VERSION 8
#define _POSIX_C_SOURCE 199309L
#include <limits.h>
#include <mpi.h>
#include <node_api.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ERR_LEN 512

static void throw_message(napi_env env, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void throw_message(napi_env env, const char *format, ...) {
  char text[ERR_LEN];
  va_list args;
  va_start(args, format);
  vsnprintf(text, sizeof text, format, args);
  va_end(args);
  napi_throw_error(env, NULL, text);
}

/* Throws "<what>: <MPI's error string>" for a failed MPI call; returns whether it succeeded. */
static bool check_mpi(napi_env env, int code, const char *what) {
  if (code == MPI_SUCCESS) return true;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) snprintf(text, sizeof text, "error %d", code);
  throw_message(env, "%s: %s", what, text);
  return false;
}

static bool require_initialized(napi_env env, const char *what) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) return true;
  throw_message(env, "%s: MPI is %s", what, finalized ? "finalized" : "not initialized");
  return false;
}

/* Polls a request until it completes or `timeout_s` (<= 0: no limit) passes. Spins first (a
 * collective over shared memory completes in microseconds), then sleeps between polls so that
 * oversubscribed ranks leave the cores to the ranks they wait for. */
static bool wait_request(napi_env env, MPI_Request *request, MPI_Status *status, double timeout_s,
                         const char *what) {
  const double start = MPI_Wtime();
  unsigned polls = 0;
  for (;;) {
    int done = 0;
    if (!check_mpi(env, MPI_Test(request, &done, status), what)) return false;
    if (done) return true;
    if (timeout_s > 0 && MPI_Wtime() - start > timeout_s) {
      throw_message(env, "%s: no answer from the other ranks within %g s (a rank stopped or is stuck)", what,
                    timeout_s);
      return false;
    }
    if (++polls > 2000) {
      const struct timespec pause = {0, 50000};
      nanosleep(&pause, NULL);
    }
  }
}

/* Waits for the request that a non-blocking call (its return code `started`, its name `start_name`)
 * began; `what` names the operation in a timeout's message. */
static void complete(napi_env env, int started, const char *start_name, MPI_Request *request, double timeout_s,
                     const char *what) {
  if (check_mpi(env, started, start_name)) wait_request(env, request, MPI_STATUS_IGNORE, timeout_s, what);
}

typedef struct {
  napi_env env;
  napi_value args[4];
  size_t argc;
  const char *name;
  bool failed;
} call_t;

static bool call_init(call_t *call, napi_env env, napi_callback_info info, const char *name, size_t argc) {
  call->env = env;
  call->name = name;
  call->failed = false;
  call->argc = 4;
  napi_get_cb_info(env, info, &call->argc, call->args, NULL, NULL);
  if (call->argc < argc) {
    throw_message(env, "%s: expected %zu arguments, got %zu", name, argc, call->argc);
    return false;
  }
  return true;
}

static double arg_number(call_t *call, size_t i, const char *what) {
  double value = 0;
  if (call->failed) return 0;
  if (napi_get_value_double(call->env, call->args[i], &value) != napi_ok) {
    throw_message(call->env, "%s: %s must be a number", call->name, what);
    call->failed = true;
  }
  return value;
}

static int arg_int(call_t *call, size_t i, const char *what, int min, int max) {
  const double value = arg_number(call, i, what);
  if (call->failed) return 0;
  if (value != (double)(int)value || value < min || value > max) {
    throw_message(call->env, "%s: %s must be an integer in [%d, %d], got %g", call->name, what, min, max, value);
    call->failed = true;
    return 0;
  }
  return (int)value;
}

/* A rank of MPI_COMM_WORLD. */
static int arg_rank(call_t *call, size_t i, const char *what) {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return arg_int(call, i, what, 0, size - 1);
}

/* A typed array's memory and its MPI element type: Float32Array, Float64Array, Int32Array or Uint8Array. */
static void *arg_buffer(call_t *call, size_t i, MPI_Datatype *type, int *count) {
  if (call->failed) return NULL;
  bool is_typed = false;
  napi_is_typedarray(call->env, call->args[i], &is_typed);
  napi_typedarray_type kind;
  size_t length = 0;
  void *data = NULL;
  if (is_typed) napi_get_typedarray_info(call->env, call->args[i], &kind, &length, &data, NULL, NULL);
  if (!is_typed || (kind != napi_float32_array && kind != napi_float64_array && kind != napi_int32_array &&
                    kind != napi_uint8_array)) {
    throw_message(call->env, "%s: the buffer must be a Float32Array, Float64Array, Int32Array or Uint8Array",
                  call->name);
    call->failed = true;
    return NULL;
  }
  if (length > INT_MAX) {
    throw_message(call->env, "%s: %zu elements exceed MPI's count limit (%d); send it in parts", call->name,
                  length, INT_MAX);
    call->failed = true;
    return NULL;
  }
  *type = kind == napi_float32_array   ? MPI_FLOAT
          : kind == napi_float64_array ? MPI_DOUBLE
          : kind == napi_int32_array   ? MPI_INT
                                       : MPI_BYTE;
  *count = (int)length;
  return data;
}

static napi_value make_int(napi_env env, int value) {
  napi_value result;
  napi_create_int32(env, value, &result);
  return result;
}

/* init(): MPI_Init_thread asking for MPI_THREAD_MULTIPLE; returns {rank, size, localSize (the ranks on
 * this machine), threadLevel}. The
 * caller needs at least MPI_THREAD_SERIALIZED (one worker thread of a rank may make the calls). */
static napi_value init_napi(napi_env env, napi_callback_info info) {
  (void)info;
  int initialized = 0;
  MPI_Initialized(&initialized);
  int provided = MPI_THREAD_SINGLE;
  if (!initialized) {
    if (!check_mpi(env, MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread"))
      return NULL;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  } else {
    MPI_Query_thread(&provided);
  }
  int rank = 0, size = 1, local_size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  /* The ranks sharing this machine, which share its cores. */
  MPI_Comm local;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
    MPI_Comm_size(local, &local_size);
    MPI_Comm_free(&local);
  }
  const char *level = provided == MPI_THREAD_MULTIPLE     ? "multiple"
                      : provided == MPI_THREAD_SERIALIZED ? "serialized"
                      : provided == MPI_THREAD_FUNNELED   ? "funneled"
                                                          : "single";
  napi_value result, text;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "rank", make_int(env, rank));
  napi_set_named_property(env, result, "size", make_int(env, size));
  napi_set_named_property(env, result, "localSize", make_int(env, local_size));
  napi_create_string_utf8(env, level, NAPI_AUTO_LENGTH, &text);
  napi_set_named_property(env, result, "threadLevel", text);
  return result;
}

/* allreduceSum(buffer, timeoutSeconds): the element-wise sum over the ranks, in place. */
static napi_value allreduce_sum_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "allreduceSum", 2) || !require_initialized(env, "allreduceSum")) return NULL;
  MPI_Datatype type;
  int count = 0;
  void *data = arg_buffer(&call, 0, &type, &count);
  const double timeout = arg_number(&call, 1, "timeoutSeconds");
  if (call.failed) return NULL;
  if (type == MPI_BYTE) {
    throw_message(env, "allreduceSum: a Uint8Array cannot be summed");
    return NULL;
  }
  MPI_Request request;
  complete(env, MPI_Iallreduce(MPI_IN_PLACE, data, count, type, MPI_SUM, MPI_COMM_WORLD, &request),
           "MPI_Iallreduce", &request, timeout, "MPI_Allreduce");
  return NULL;
}

/* bcast(buffer, root, timeoutSeconds): root's buffer into every rank's, in place. */
static napi_value bcast_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "bcast", 3) || !require_initialized(env, "bcast")) return NULL;
  MPI_Datatype type;
  int count = 0;
  void *data = arg_buffer(&call, 0, &type, &count);
  const int root = arg_rank(&call, 1, "root");
  const double timeout = arg_number(&call, 2, "timeoutSeconds");
  if (call.failed) return NULL;
  MPI_Request request;
  complete(env, MPI_Ibcast(data, count, type, root, MPI_COMM_WORLD, &request), "MPI_Ibcast", &request, timeout,
           "MPI_Bcast");
  return NULL;
}

/* barrier(timeoutSeconds) */
static napi_value barrier_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "barrier", 1) || !require_initialized(env, "barrier")) return NULL;
  const double timeout = arg_number(&call, 0, "timeoutSeconds");
  if (call.failed) return NULL;
  MPI_Request request;
  complete(env, MPI_Ibarrier(MPI_COMM_WORLD, &request), "MPI_Ibarrier", &request, timeout, "MPI_Barrier");
  return NULL;
}

/* send(bytes, dest, tag, timeoutSeconds): a Uint8Array to one rank (streaming models' states). */
static napi_value send_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "send", 4) || !require_initialized(env, "send")) return NULL;
  MPI_Datatype type;
  int count = 0;
  void *data = arg_buffer(&call, 0, &type, &count);
  const int dest = arg_rank(&call, 1, "dest");
  const int tag = arg_int(&call, 2, "tag", 0, 32767);
  const double timeout = arg_number(&call, 3, "timeoutSeconds");
  if (call.failed) return NULL;
  if (type != MPI_BYTE) {
    throw_message(env, "send: the message must be a Uint8Array");
    return NULL;
  }
  MPI_Request request;
  complete(env, MPI_Isend(data, count, MPI_BYTE, dest, tag, MPI_COMM_WORLD, &request), "MPI_Isend", &request,
           timeout, "MPI_Send");
  return NULL;
}

/* recv(source, tag, timeoutSeconds): the next message from `source` with `tag`, as a new Uint8Array
 * of the size MPI reports (probed first, so no size is guessed). */
static napi_value recv_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "recv", 3) || !require_initialized(env, "recv")) return NULL;
  const int source = arg_rank(&call, 0, "source");
  const int tag = arg_int(&call, 1, "tag", 0, 32767);
  const double timeout = arg_number(&call, 2, "timeoutSeconds");
  if (call.failed) return NULL;
  const double start = MPI_Wtime();
  unsigned polls = 0;
  MPI_Message message;
  MPI_Status status;
  for (;;) {
    int found = 0;
    if (!check_mpi(env, MPI_Improbe(source, tag, MPI_COMM_WORLD, &found, &message, &status), "MPI_Improbe"))
      return NULL;
    if (found) break;
    if (timeout > 0 && MPI_Wtime() - start > timeout) {
      throw_message(env, "MPI_Recv from rank %d: no message within %g s (a rank stopped or is stuck)", source,
                    timeout);
      return NULL;
    }
    if (++polls > 2000) {
      const struct timespec pause = {0, 50000};
      nanosleep(&pause, NULL);
    }
  }
  int count = 0;
  if (!check_mpi(env, MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count")) return NULL;
  void *bytes = NULL;
  napi_value buffer, array;
  if (napi_create_arraybuffer(env, (size_t)count, &bytes, &buffer) != napi_ok) {
    throw_message(env, "recv: cannot allocate %d bytes for the message from rank %d", count, source);
    return NULL;
  }
  MPI_Request request;
  if (!check_mpi(env, MPI_Imrecv(bytes, count, MPI_BYTE, &message, &request), "MPI_Imrecv")) return NULL;
  if (!wait_request(env, &request, MPI_STATUS_IGNORE, timeout, "MPI_Recv")) return NULL;
  napi_create_typedarray(env, napi_uint8_array, (size_t)count, buffer, 0, &array);
  return array;
}

/* abort(code): ends every rank of the job (the launcher kills the others); does not return. */
static napi_value abort_napi(napi_env env, napi_callback_info info) {
  call_t call;
  if (!call_init(&call, env, info, "abort", 1)) return NULL;
  const int code = arg_int(&call, 0, "code", 0, 255);
  if (call.failed) return NULL;
  fflush(stdout);
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  return NULL;
}

static napi_value finalize_napi(napi_env env, napi_callback_info info) {
  (void)info;
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) check_mpi(env, MPI_Finalize(), "MPI_Finalize");
  return NULL;
}

static napi_value version_napi(napi_env env, napi_callback_info info) {
  (void)info;
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(text, &length);
  /* The first line names the library and version; the rest is build detail. */
  char *newline = strchr(text, '\n');
  if (newline) *newline = '\0';
  napi_value result;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor properties[] = {
      {"init", NULL, init_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"allreduceSum", NULL, allreduce_sum_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bcast", NULL, bcast_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"barrier", NULL, barrier_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, send_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recv", NULL, recv_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"abort", NULL, abort_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"finalize", NULL, finalize_napi, NULL, NULL, NULL, napi_enumerable, NULL},
      {"version", NULL, version_napi, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
