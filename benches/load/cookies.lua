-- wrk script: every request carries one of many session cookies (one per line of the file given after `--`), in
-- turn, so that each returning client is its own session and no two in-flight requests share one (256 cookies,
-- 32 connections). The requests are formatted once, in init.
local requests = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format(nil, nil, { ["Cookie"] = line })
    end
  end
end

function request()
  i = i % #requests + 1
  return requests[i]
end
