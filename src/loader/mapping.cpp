#include "loader/mapping.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eft/error.h"

namespace eft::loader {

std::shared_ptr<Mapping> Mapping::map_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  check(fd >= 0, "{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    fail("{}: cannot stat: {}", path, std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{}: not a regular file", path);
  }
  std::shared_ptr<Mapping> m(new Mapping());
  m->size_ = size_t(st.st_size);
  if (m->size_ > 0) {  // mmap of length 0 fails; an empty file is reported as truncated by the parser
    void* p = ::mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    ::close(fd);
    check(p != MAP_FAILED, "{}: mmap of {} bytes failed: {}", path, m->size_, std::strerror(e));
    m->data_ = static_cast<const uint8_t*>(p);
    m->owned_ = true;
  } else {
    ::close(fd);
  }
  return m;
}

std::shared_ptr<Mapping> Mapping::borrow(const void* data, size_t size) {
  std::shared_ptr<Mapping> m(new Mapping());
  m->data_ = static_cast<const uint8_t*>(data);
  m->size_ = data ? size : 0;
  return m;
}

std::shared_ptr<Mapping> Mapping::heap(size_t size) {
  std::shared_ptr<Mapping> m(new Mapping());
  m->heap_.assign(size, 0);
  m->data_ = m->heap_.data();
  m->size_ = size;
  return m;
}

Mapping::~Mapping() {
  if (owned_ && data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace eft::loader
