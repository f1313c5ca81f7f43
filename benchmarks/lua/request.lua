-- One request shape for a whole wrk run, from the environment the bench sets:
-- BENCH_METHOD (GET), BENCH_AUTHORIZATION, BENCH_BODY, BENCH_CONTENT_TYPE, and BENCH_PATHS:
-- paths separated by spaces, requested in turn (a pool of order ids), instead of the URL's.
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

local paths = {}
for path in string.gmatch(os.getenv("BENCH_PATHS") or "", "%S+") do
  paths[#paths + 1] = path
end
if #paths > 0 then
  local turn = 0
  request = function()
    turn = turn % #paths + 1
    return wrk.format(nil, paths[turn])
  end
end
