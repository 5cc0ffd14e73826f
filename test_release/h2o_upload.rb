# The upload sink of the h2o release fixture (an mruby handler; h2o has no WebDAV).
#
# _configs.py prepends `UPLOAD_DIR = "<dir>"` and mounts this at /upload.
# PUT /upload/<name> stores the request body as UPLOAD_DIR/<name> and answers
# 201 with the number of bytes stored, so a test can compare the stored file
# with what it sent. GET /upload/<name> streams a stored file back through a
# body object that is not an Array, which h2o sends with chunked encoding on
# HTTP/1.1. A name is letters, digits, '.', '_' and '-', not starting with '.'.

# Bytes copied per step between the request body, the file and the response.
PIECE = 64 * 1024

# Yields a stored file piece by piece (h2o calls each from a fiber).
class StoredFile
  def initialize(path)
    @path = path
  end

  def each
    File.open(@path, "rb") do |file|
      while (piece = file.read(PIECE)) && !piece.empty?
        yield piece
      end
    end
  end
end

def upload_answer(status, text)
  [status, {"content-type" => "text/plain"}, [text + "\n"]]
end

def store_upload(input, path)
  total = 0
  File.open(path, "wb") do |file|
    while (piece = input.read(PIECE)) && !piece.empty?
      file.write(piece)
      total += piece.size
    end
  end
  total
end

Proc.new do |env|
  name = env["PATH_INFO"].sub(/\A\/+/, "")
  path = File.join(UPLOAD_DIR, name)
  if name !~ /\A[A-Za-z0-9_-][A-Za-z0-9._-]*\z/
    upload_answer(400, "bad name")
  elsif env["REQUEST_METHOD"] == "PUT"
    upload_answer(201, store_upload(env["rack.input"], path).to_s)
  elsif env["REQUEST_METHOD"] == "GET" && File.file?(path)
    [200, {"content-type" => "application/octet-stream"}, StoredFile.new(path)]
  elsif env["REQUEST_METHOD"] == "GET"
    upload_answer(404, "not found")
  else
    upload_answer(405, "PUT or GET only")
  end
end
