/* The three requests of the parser benchmark (also read by bench_python.py: keep one per line, C strings). */
#define REQ_SMALL "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
#define REQ_MEDIUM \
    "POST /api/v1/items?limit=20&offset=40 HTTP/1.1\r\n" \
    "Host: api.example.com:8443\r\n" \
    "User-Agent: python-httpx/0.27.0\r\n" \
    "Accept: application/json\r\n" \
    "Accept-Encoding: gzip, deflate, br\r\n" \
    "Connection: keep-alive\r\n" \
    "Content-Type: application/json; charset=utf-8\r\n" \
    "Content-Length: 0\r\n" \
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcd\r\n" \
    "X-Request-Id: 7f3c2a10-9b1e-4c5d\r\n" \
    "\r\n"
#define REQ_LARGE \
    "GET /static/app/js/main.7c1e9f2a.js?v=2 HTTP/1.1\r\n" \
    "Host: www.example.com\r\n" \
    "Connection: keep-alive\r\n" \
    "sec-ch-ua: \"Chromium\";v=\"119\", \"Not?A_Brand\";v=\"24\"\r\n" \
    "sec-ch-ua-mobile: ?0\r\n" \
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0\r\n" \
    "sec-ch-ua-platform: \"Linux\"\r\n" \
    "Accept: */*\r\n" \
    "Sec-Fetch-Site: same-origin\r\n" \
    "Sec-Fetch-Mode: no-cors\r\n" \
    "Sec-Fetch-Dest: script\r\n" \
    "Referer: https://www.example.com/\r\n" \
    "Accept-Encoding: gzip, deflate, br\r\n" \
    "Accept-Language: en-US,en;q=0.9\r\n" \
    "Cookie: session=8f14e45fceea167a5a36; theme=dark\r\n" \
    "If-None-Match: \"5d8c72a5edda8d6a:0\"\r\n" \
    "If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n" \
    "Cache-Control: max-age=0\r\n" \
    "DNT: 1\r\n" \
    "Upgrade-Insecure-Requests: 1\r\n" \
    "X-Forwarded-For: 203.0.113.195\r\n" \
    "\r\n"
