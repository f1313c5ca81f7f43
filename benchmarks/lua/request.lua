-- One request shape for a whole wrk run, from the environment the bench sets:
-- BENCH_METHOD (GET), BENCH_AUTHORIZATION, BENCH_BODY, BENCH_CONTENT_TYPE.
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
end
